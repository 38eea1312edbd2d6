"""Probe hosts over SSH: hardware, OS, GPUs, networks and Kubernetes, stored per host.

:meth:`ProbeService.probe_hosts` is the fast path of the hosts issue: the engine
pipes ``playbooks/files/probe.sh`` to ``sh -s`` over asyncssh on many hosts at
once (bounded by the :class:`~podwarden.engine.adapters.ssh.SshPool`), parses the
JSON with :func:`~podwarden.engine.parsers.probe.parse_probe_output` and stores
each host in its own unit of work, so a host is either fully updated or not at
all. The run is a job (kind ``probe``) with one output line per host.

What a successful probe writes on the host: ``cpu_model``, ``cpu_cores``,
``memory_bytes``, ``disk_bytes``, ``gpu_model``, ``gpu_count``, ``gpu_vram_mb``
(VRAM of *one* GPU of the main model; the total is in ``facts``),
``network_types``, ``facts`` (the whole :class:`ProbeResult` as JSON),
``last_probe_at`` and ``kubernetes_detected``; a host where Kubernetes is found
becomes ``protected`` (never the other way round), unless that Kubernetes is the
K3s PodWarden itself installed there (see
:func:`~podwarden.engine.services.provisioning.k3s_installed_by_podwarden`). The
host's name, addresses, OS and state belong to discovery and the hosts service and
are not touched.

Host keys: a host without a pinned key is trusted on first use and its key is
recorded in ``ssh_known_hosts``. A host presenting another key is refused: only
``ssh_host_key_pending`` is set (to the presented key line) and the host is
reported with :class:`~podwarden.engine.adapters.ssh.HostKeyChangedError`, until
an admin calls :meth:`ProbeService.accept_host_key` (or
:meth:`ProbeService.dismiss_host_key`).
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import case, func, or_, select, update

from podwarden.engine.adapters.ssh import (
    DEFAULT_MAX_CONNECTIONS,
    HostKeyChangedError,
    SshPool,
    SshTarget,
    validate_known_hosts,
)
from podwarden.engine.errors import (
    ConflictError,
    ExternalServiceError,
    NotFoundError,
    PermanentServiceError,
    PodWardenError,
    ValidationError,
)
from podwarden.engine.models.fleet import Host
from podwarden.engine.models.jobs import JobState
from podwarden.engine.parsers.probe import ProbeResult, parse_probe_output
from podwarden.engine.security.crypto import SecretValue
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Context, Service, get_or_404, now
from podwarden.engine.services.jobs import JobHandle, JobsService
from podwarden.engine.services.provisioning import k3s_installed_by_podwarden
from podwarden.engine.services.secrets import SecretsService

__all__ = [
    "MAX_HOSTS_PER_PROBE",
    "HostProbe",
    "ProbeFailedError",
    "ProbeReport",
    "ProbeService",
    "probe_script",
]

log = logging.getLogger(__name__)

MAX_HOSTS_PER_PROBE: Final = 10_000
_TEXT_LIMIT: Final = 256  # cpu_model, gpu_model columns


def probe_script() -> str:
    """The text of ``playbooks/files/probe.sh`` as installed with PodWarden."""
    return importlib.resources.files("podwarden.playbooks").joinpath("files/probe.sh").read_text("utf-8")


# ------------------------------------------------------------------ results ---


@dataclass(frozen=True)
class HostProbe:
    """How probing one host went. ``error`` is set exactly when it failed."""

    host_id: uuid.UUID
    hostname: str
    address: str | None
    result: ProbeResult | None = None
    error: PodWardenError | None = None
    host_key_recorded: bool = False  # first contact: the key was pinned now
    protected: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def line(self) -> str:
        """The job-output line for this host (never contains secrets)."""
        where = f"{self.hostname} ({self.address})" if self.address else self.hostname
        if self.error is not None:
            return f"{where}: FAILED: {self.error}"
        assert self.result is not None
        extra = "; host key pinned on first contact" if self.host_key_recorded else ""
        return f"{where}: ok in {self.seconds:.2f} s: {describe(self.result)}{extra}"


@dataclass(frozen=True)
class ProbeReport:
    """The outcome of :meth:`ProbeService.probe_hosts`, in the order the ids were given."""

    job_id: uuid.UUID
    job_state: JobState
    hosts: tuple[HostProbe, ...]
    job_error: str = ""

    @property
    def succeeded(self) -> tuple[HostProbe, ...]:
        return tuple(h for h in self.hosts if h.ok)

    @property
    def failed(self) -> tuple[HostProbe, ...]:
        return tuple(h for h in self.hosts if not h.ok)

    def for_host(self, host_id: uuid.UUID) -> HostProbe:
        for item in self.hosts:
            if item.host_id == host_id:
                return item
        raise NotFoundError("Probed host", host_id)


class ProbeFailedError(ExternalServiceError):
    """Some hosts of a probe run failed (the job's error); each has its own reason."""

    def __init__(self, failed: Sequence[HostProbe], total: int) -> None:
        first = "; ".join(f"{h.hostname}: {h.error}" for h in failed[:3])
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        super().__init__("ssh", f"{len(failed)} of {total} hosts could not be probed: {first}{more}")
        self.temporary = all(isinstance(h.error, ExternalServiceError) and h.error.temporary for h in failed)
        self.failed = tuple(failed)


def describe(result: ProbeResult) -> str:
    """One line of what a probe found."""
    parts = [
        f"{result.cpu_cores} CPU cores" if result.cpu_cores else "CPU cores unknown",
        f"{result.memory_bytes / 2**30:.1f} GiB RAM" if result.memory_bytes else "RAM unknown",
    ]
    if result.gpus:
        vram = f", {result.gpu_vram_total_mb} MiB VRAM" if result.gpu_vram_total_mb else ""
        parts.append(f"{result.gpu_count} × {result.gpu_model}{vram}")
    else:
        parts.append("no GPU")
    parts.append("networks " + (", ".join(result.network_types) or "none"))
    if result.kubernetes_detected:
        parts.append("Kubernetes detected (" + ", ".join(result.kubernetes_signals) + ")")
    return ", ".join(parts)


@dataclass(frozen=True)
class _HostSnapshot:
    """What connecting needs, read once before the SSH work starts."""

    id: uuid.UUID
    hostname: str
    address: str | None
    port: int
    user: str
    key_secret: str | None
    known_hosts: str | None


@dataclass
class _Run:
    """State shared by one probe run's hosts."""

    script: str
    keys: dict[str, asyncio.Task[SecretValue]] = field(default_factory=dict)
    outcomes: dict[uuid.UUID, HostProbe] = field(default_factory=dict)


class _Output:
    """Job output lines, written as they come; lines arriving during a write go in the next one."""

    def __init__(self, handle: JobHandle) -> None:
        self.handle = handle
        self.pending: list[str] = []
        self.lock = asyncio.Lock()

    async def line(self, text: str) -> None:
        self.pending.append(text + "\n")
        async with self.lock:
            if self.pending:
                chunk, self.pending = "".join(self.pending), []
                await self.handle.write(chunk)


# ------------------------------------------------------------------ service ---


class ProbeService(Service):
    """Probe hosts and manage their pinned SSH host keys."""

    def __init__(
        self,
        ctx: Context,
        *,
        jobs: JobsService | None = None,
        secrets: SecretsService | None = None,
        ssh: SshPool | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        script: str | None = None,
    ) -> None:
        super().__init__(ctx)
        self.script = script  # None: playbooks/files/probe.sh
        self.jobs = jobs if jobs is not None else JobsService(ctx)
        self.secrets = secrets if secrets is not None else SecretsService(ctx)
        self.ssh = (
            ssh if ssh is not None else SshPool.from_settings(ctx.settings, max_connections=max_connections)
        )
        # Host writes share the database pool with everything else: keep some of it free.
        self._db_slots = asyncio.Semaphore(max(1, ctx.settings.db_pool_size - 1))

    # -- operations -------------------------------------------------------------------------
    @operation(Permissions.HOSTS_MANAGE, Access.MUTATING)
    async def probe_hosts(self, actor: Actor, host_ids: Sequence[uuid.UUID]) -> ProbeReport:
        """Probe hosts over SSH (as one job) and store what was found on each.

        Hosts fail one by one (unreachable, key rejected, changed host key, bad
        output…); each failure is in the report and the job output, and leaves its
        host as it was. The job fails when any host failed.
        """
        ids = _check_ids(host_ids)
        snapshots = await self._snapshots(ids)
        title = f"Probe {snapshots[0].hostname}" if len(ids) == 1 else f"Probe {len(ids)} hosts"
        job_id = await self.jobs.create(
            actor,
            "probe",
            title,
            subject_type="host" if len(ids) == 1 else None,
            subject_id=ids[0] if len(ids) == 1 else None,
            params={"host_ids": [str(i) for i in ids]},
        )
        run = _Run(script=self.script if self.script is not None else probe_script())

        async def work(handle: JobHandle) -> dict[str, Any]:
            output = _Output(handle)
            await asyncio.gather(*(self._probe_one(run, snap, output) for snap in snapshots))
            failed = [run.outcomes[s.id] for s in snapshots if not run.outcomes[s.id].ok]
            if failed:
                raise ProbeFailedError(failed, len(snapshots))
            return {"probed": len(snapshots), "failed": 0}

        info = await self.jobs.run(job_id, work)
        for task in run.keys.values():
            task.cancel()
        outcomes = tuple(
            run.outcomes.get(s.id)
            or HostProbe(
                s.id, s.hostname, s.address, error=PodWardenError("The probe stopped before this host.")
            )
            for s in snapshots
        )
        return ProbeReport(job_id, info.state, outcomes, info.error)

    @operation(Permissions.HOSTS_TRUST_KEY, Access.MUTATING)
    async def accept_host_key(
        self, actor: Actor, host_id: uuid.UUID, *, expected_key: str | None = None
    ) -> str:
        """Pin the host key a probe found changed (``ssh_host_key_pending``) instead of the old one.

        ``expected_key`` (the line the admin was shown) guards against a key that
        changed again in between. Returns the now pinned ``known_hosts`` text.
        """
        async with self.db.unit_of_work() as uow:
            host = await get_or_404(uow.session, Host, host_id, "Host")
            pending = (host.ssh_host_key_pending or "").strip()
            if not pending:
                raise ConflictError(
                    f"Host {host.hostname} has no changed SSH host key waiting to be accepted."
                )
            if expected_key is not None and _key_part(expected_key) != _key_part(pending):
                raise ConflictError(
                    f"The changed SSH host key of {host.hostname} is not the one you checked; "
                    "look at it again."
                )
            validate_known_hosts(pending)
            host.ssh_known_hosts = pending
            host.ssh_host_key_pending = None
            return pending

    @operation(Permissions.HOSTS_TRUST_KEY, Access.MUTATING)
    async def dismiss_host_key(self, actor: Actor, host_id: uuid.UUID) -> None:
        """Drop a pending changed key without trusting it (the old pin stays)."""
        async with self.db.unit_of_work() as uow:
            host = await get_or_404(uow.session, Host, host_id, "Host")
            if host.ssh_host_key_pending is not None:
                host.ssh_host_key_pending = None

    # -- one host ------------------------------------------------------------------------------
    async def _probe_one(self, run: _Run, snap: _HostSnapshot, output: _Output) -> None:
        started = time.perf_counter()
        recorded = protected = False
        result: ProbeResult | None = None
        error: PodWardenError | None = None
        try:
            target = await self._target(run, snap)
            ran = await self.ssh.run_script(target, run.script, sudo=False)
            ran.check("The probe script", target)
            result = parse_probe_output(ran.stdout)
            recorded, protected = await self._store(snap, target, result, ran.new_host_key)
        except HostKeyChangedError as exc:
            error = exc
            try:
                await self._store_pending_key(snap, exc.new_key)
            except PodWardenError:
                log.warning("could not record the changed host key of host %s", snap.id, exc_info=True)
        except PodWardenError as exc:
            error = exc
        except Exception as exc:  # a bug must not take the other hosts down with it
            log.exception("probing host %s failed unexpectedly", snap.id)
            error = PodWardenError(f"Unexpected error: {exc.__class__.__name__}.")
        outcome = HostProbe(
            snap.id, snap.hostname, snap.address, result if error is None else None, error,
            recorded, protected, time.perf_counter() - started,
        )  # fmt: skip
        run.outcomes[snap.id] = outcome
        await output.line(outcome.line)

    async def _target(self, run: _Run, snap: _HostSnapshot) -> SshTarget:
        if snap.address is None:
            raise ValidationError(
                f"Host {snap.hostname} has no SSH address and no known address; set one first.",
                {"ssh_address": "missing"},
            )
        key: SecretValue | None = None
        if snap.key_secret is not None:
            task = run.keys.get(snap.key_secret)
            if task is None:  # one decryption per secret and run, shared by its hosts
                task = run.keys[snap.key_secret] = asyncio.ensure_future(self._reveal(snap.key_secret))
            key = await asyncio.shield(task)
        return SshTarget(snap.address, snap.port, snap.user, key, snap.known_hosts)

    async def _reveal(self, name: str) -> SecretValue:
        try:
            return await self.secrets.reveal(name)
        except NotFoundError as exc:
            raise PermanentServiceError(
                "ssh", f"The SSH key secret '{name}' does not exist; set the host's SSH key again."
            ) from exc

    async def _store(
        self, snap: _HostSnapshot, target: SshTarget, result: ProbeResult, new_key: str | None
    ) -> tuple[bool, bool]:
        """Write one host's probe in one unit of work; returns (key recorded, protected).

        One ``UPDATE … RETURNING`` (no read first): it pins ``new_key`` only where no
        key is pinned yet, bumps ``version`` like an ORM save would, and is announced
        with NOTIFY. A different key pinned meanwhile rolls it all back.
        """
        values = _columns(result)
        blank_pin = or_(Host.ssh_known_hosts.is_(None), func.btrim(Host.ssh_known_hosts) == "")
        if new_key is not None:
            values["ssh_known_hosts"] = case((blank_pin, new_key), else_=Host.ssh_known_hosts)
        if result.kubernetes_detected:
            # Never lifted here: only people unprotect a host. A K3s PodWarden installed
            # itself does not protect the host (it may be wiped once it left its cluster).
            values["protected"] = case((k3s_installed_by_podwarden(Host.id), Host.protected), else_=True)
        stmt = (
            update(Host)
            .where(Host.id == snap.id)
            .values(**values, version=Host.version + 1, updated_at=now())
            .returning(Host.ssh_known_hosts, Host.protected)
            .execution_options(synchronize_session=False)
        )
        async with self._db_slots, self.db.unit_of_work() as uow:
            row = (await uow.session.execute(stmt)).one_or_none()
            if row is None:
                raise NotFoundError("Host", snap.id)
            pinned, protected = row
            if new_key is not None and not _key_part(new_key) <= _key_part(pinned or ""):
                # Pinned by someone else while we were connected, to another key.
                raise HostKeyChangedError(
                    target,
                    new_key,
                    message="Another probe pinned a different SSH host key for "
                    f"{target.address}:{target.port} while this one was connected; PodWarden "
                    "trusts neither until an admin checks the host and accepts a key.",
                )
            uow.announce("hosts", [snap.id])
        recorded = new_key is not None and not (snap.known_hosts or "").strip()
        return recorded, bool(protected)

    async def _store_pending_key(self, snap: _HostSnapshot, new_key: str | None) -> None:
        if new_key is None:
            return
        async with self._db_slots, self.db.unit_of_work() as uow:
            host = await uow.session.get(Host, snap.id, with_for_update=True)
            if host is not None and host.ssh_host_key_pending != new_key:
                host.ssh_host_key_pending = new_key

    async def _snapshots(self, ids: list[uuid.UUID]) -> list[_HostSnapshot]:
        async with self.db.session() as session:
            rows = {h.id: h for h in (await session.execute(select(Host).where(Host.id.in_(ids)))).scalars()}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise NotFoundError("Host", missing[0])
        return [_snapshot(rows[i]) for i in ids]


# ------------------------------------------------------------------ helpers ---


def _check_ids(host_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    if isinstance(host_ids, str | bytes) or not isinstance(host_ids, Sequence):
        raise ValidationError("Give a list of host ids to probe.", {"host_ids": "expected a list"})
    ids: list[uuid.UUID] = []
    for value in host_ids:
        if not isinstance(value, uuid.UUID):
            raise ValidationError(f"{value!r} is not a host id.", {"host_ids": "expected host ids (UUIDs)"})
        if value not in ids:
            ids.append(value)
    if not ids:
        raise ValidationError("Choose at least one host to probe.", {"host_ids": "empty"})
    if len(ids) > MAX_HOSTS_PER_PROBE:
        raise ValidationError(
            f"At most {MAX_HOSTS_PER_PROBE} hosts can be probed at once.", {"host_ids": "too many"}
        )
    return ids


def _snapshot(host: Host) -> _HostSnapshot:
    address = host.ssh_address or next(iter(host.addresses or ()), None)
    return _HostSnapshot(
        host.id,
        host.hostname,
        address,
        host.ssh_port,
        host.ssh_user,
        host.ssh_key_secret,
        host.ssh_known_hosts,
    )


def _key_part(known_hosts: str) -> set[tuple[str, str]]:
    """The (type, key) pairs of known_hosts text, without host patterns or markers."""
    keys: set[tuple[str, str]] = set()
    for raw in known_hosts.splitlines():
        fields = raw.split()
        if fields and fields[0].startswith("@"):
            fields = fields[1:]
        if len(fields) >= 3 and not fields[0].startswith("#"):
            keys.add((fields[1], fields[2]))
    return keys


def _clip(text: str | None) -> str | None:
    return text[:_TEXT_LIMIT] if text else text


def _columns(result: ProbeResult) -> dict[str, Any]:
    """The host columns a probe sets (``protected`` and the key pin are handled apart)."""
    vram = [g.vram_mb for g in result.gpus if g.model == result.gpu_model]
    known = [v for v in vram if v is not None]
    return {
        "cpu_model": _clip(result.cpu_model),
        "cpu_cores": result.cpu_cores,
        "memory_bytes": result.memory_bytes,
        "disk_bytes": result.disk_bytes or None,
        "gpu_model": _clip(result.gpu_model),
        "gpu_count": result.gpu_count,
        # VRAM of one GPU of the main model; unknown when any of them is unknown.
        "gpu_vram_mb": max(known) if known and len(known) == len(vram) else None,
        "network_types": list(result.network_types),
        "facts": result.model_dump(mode="json"),
        "last_probe_at": now(),
        "kubernetes_detected": result.kubernetes_detected,
    }
