"""Provision hosts with K3s, register running K3s servers as clusters, wipe hosts — as jobs.

Each operation is one job (kind ``install-k3s``, ``join-cluster``,
``register-cluster`` or ``wipe``) whose output is the playbook's, line by line:

1. The host is read once and checked: it must have an SSH address and a pinned
   host key (probe it first), and protected hosts are refused with
   :class:`ProtectedResourceError` (cluster members, hosts where Kubernetes was
   detected, hosts marked protected).

   The one exception is the K3s PodWarden installed itself: when the host's latest
   successful K3s job is PodWarden's own ``install-k3s`` / ``join-cluster`` (not a
   later ``wipe``, not a ``register-cluster`` adopting a K3s found there), the
   Kubernetes a probe finds is PodWarden's, so it neither protects the host (see
   :func:`k3s_installed_by_podwarden`, used by the probe too) nor blocks its wipe
   once the host has left its cluster. Provisioning such a host again is still
   refused: wipe it first. A K3s someone else installed, or one PodWarden adopted,
   stays protected.
2. A short SSH pre-flight (:class:`~podwarden.engine.adapters.ssh.SshPool`, with
   sudo for non-root users) turns an unreachable host, a rejected key, a changed
   host key or missing sudo into one clear reason before Ansible starts.
3. The playbook runs through :class:`~podwarden.engine.adapters.ansible.AnsibleRunner`
   (a worker thread; cancel and timeout stop it, output is kept).
4. Only then is the database written, in one unit of work: the host is never
   left half-updated. A failure at any step fails the job with its reason.

``install_prefix`` (constructor) roots every K3s path (binaries, ``/etc/rancher``,
``/var/lib/rancher``) under another folder; it is empty in production and a
temporary folder in tests, where a stand-in install script plays K3s.
"""

from __future__ import annotations

import importlib.resources
import re
import shlex
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, select

from podwarden.engine.adapters.ansible import AnsibleRunner, PlaybookResult, PlaybookRun
from podwarden.engine.adapters.ssh import SshPool, SshTarget
from podwarden.engine.errors import (
    ConflictError,
    NotFoundError,
    PermanentServiceError,
    ProtectedResourceError,
    TemporaryServiceError,
    ValidationError,
)
from podwarden.engine.models.fleet import Cluster, Host, HostState
from podwarden.engine.models.jobs import Job, JobState
from podwarden.engine.parsers.kubeconfig import rewrite_server
from podwarden.engine.render.inventory import (
    InventoryHost,
    K3sPlan,
    mesh_address,
    provision_vars,
    reachable_address,
    server_url,
    wipe_vars,
)
from podwarden.engine.security.crypto import SecretValue
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Context, Service, now
from podwarden.engine.services.clusters import ClustersService
from podwarden.engine.services.jobs import JobHandle, JobInfo, JobsService
from podwarden.engine.services.secrets import SecretsService

__all__ = [
    "KUBECONFIG_PATH",
    "LEFTOVER_MARKER",
    "NODE_TOKEN_PATH",
    "PlaybookFailedError",
    "ProvisioningService",
    "WipeLeftoversError",
    "k3s_installed_by_podwarden",
    "parse_leftovers",
    "playbooks_dir",
]

KUBECONFIG_PATH: Final = "/etc/rancher/k3s/k3s.yaml"
NODE_TOKEN_PATH: Final = "/var/lib/rancher/k3s/server/node-token"  # noqa: S105 - a path
LEFTOVER_MARKER: Final = "PODWARDEN_LEFTOVERS:"
_LEFTOVER_LINE = re.compile(re.escape(LEFTOVER_MARKER) + r"\s*([^'\"]*)")
_MAX_FILE: Final = 1024 * 1024


# Job kinds that change who owns the K3s on a host (their subject is the host).
_INSTALL_KINDS: Final = ("install-k3s", "join-cluster")
_K3S_HISTORY_KINDS: Final = (*_INSTALL_KINDS, "register-cluster", "wipe")


def k3s_installed_by_podwarden(host_id: Any) -> ColumnElement[bool]:
    """SQL: the K3s on host ``host_id`` (a column or a value) is PodWarden's own.

    True when the host's most recent *successful* job among ``install-k3s``,
    ``join-cluster``, ``register-cluster`` and ``wipe`` installed K3s. After a
    successful wipe, or when PodWarden only adopted a running K3s
    (``register-cluster``), or with no such job at all, it is false: Kubernetes found
    there is someone else's and protects the host. Failed or cancelled installs do
    not count (what they left is unknown). The history is the jobs table, so a job
    removed from it is forgotten, which errs on the protected side.
    """
    latest = (
        select(Job.kind)
        .where(
            Job.subject_type == "host",
            Job.subject_id == host_id,
            Job.state == JobState.SUCCEEDED,
            Job.kind.in_(_K3S_HISTORY_KINDS),
        )
        .order_by(Job.finished_at.desc().nulls_last(), Job.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return latest.in_(_INSTALL_KINDS)


def playbooks_dir() -> Path:
    """``playbooks/`` as installed with PodWarden."""
    return Path(str(importlib.resources.files("podwarden.playbooks")))


def parse_leftovers(line: str) -> list[str] | None:
    """The leftovers of a ``PODWARDEN_LEFTOVERS: …`` line (``[]`` for ``none``), else ``None``."""
    match = _LEFTOVER_LINE.search(line)
    if match is None:
        return None
    items = match.group(1).split()
    return [] if items == ["none"] else items


class PlaybookFailedError(PermanentServiceError):
    """A playbook ended unsuccessfully; the message is its first failure."""


class WipeLeftoversError(PermanentServiceError):
    """The uninstall ran but things are left on the host (``leftovers``)."""

    def __init__(self, hostname: str, leftovers: list[str]) -> None:
        super().__init__(
            "ansible", f"Wiping {hostname} left things behind: {', '.join(leftovers)}. Remove them by hand."
        )
        self.leftovers = leftovers


@dataclass(frozen=True)
class _HostSnapshot:
    id: uuid.UUID
    hostname: str
    address: str | None
    port: int
    user: str
    key_secret: str | None
    known_hosts: str | None
    addresses: tuple[str, ...]
    interfaces: dict[str, list[str]]
    gpu: bool
    state: HostState
    protected: bool
    kubernetes_detected: bool
    cluster_id: uuid.UUID | None
    podwarden_k3s: bool = False  # the K3s on it is PodWarden's own (k3s_installed_by_podwarden)


def _snapshot(host: Host, podwarden_k3s: bool = False) -> _HostSnapshot:
    interfaces: dict[str, list[str]] = {}
    for entry in (host.facts or {}).get("interfaces") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            interfaces[entry["name"]] = [str(a) for a in entry.get("addresses") or []]
    nvidia = "nvidia" in (host.gpu_model or "").lower() or any(
        isinstance(g, dict) and g.get("vendor") == "nvidia" for g in (host.facts or {}).get("gpus") or []
    )
    return _HostSnapshot(
        host.id, host.hostname, host.ssh_address or next(iter(host.addresses or ()), None), host.ssh_port,
        host.ssh_user, host.ssh_key_secret, host.ssh_known_hosts, tuple(host.addresses or ()), interfaces,
        host.gpu_count > 0 and nvidia, host.state, host.protected, host.kubernetes_detected, host.cluster_id,
        podwarden_k3s,
    )  # fmt: skip


class ProvisioningService(Service):
    """Provision (K3s server or agent), register a running K3s server, wipe."""

    def __init__(
        self,
        ctx: Context,
        *,
        jobs: JobsService | None = None,
        secrets: SecretsService | None = None,
        clusters: ClustersService | None = None,
        ssh: SshPool | None = None,
        runner: AnsibleRunner | None = None,
        artifacts_dir: Path | None = None,
        install_prefix: str = "",
        playbook_vars: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(ctx)
        self.jobs = jobs if jobs is not None else JobsService(ctx)
        self.secrets = secrets if secrets is not None else SecretsService(ctx)
        self.clusters = clusters if clusters is not None else ClustersService(ctx, self.secrets)
        self.ssh = ssh if ssh is not None else SshPool.from_settings(ctx.settings)
        self.runner = runner if runner is not None else AnsibleRunner(playbooks_dir())
        self.artifacts_dir = (
            artifacts_dir or ctx.settings.k3s_artifacts_dir or ctx.settings.data_dir / "k3s-artifacts"
        )
        self.install_prefix = install_prefix.rstrip("/")
        self.playbook_vars = dict(playbook_vars or {})

    # -- operations ---------------------------------------------------------------------------
    @operation(Permissions.HOSTS_PROVISION, Access.MUTATING)
    async def provision(
        self,
        actor: Actor,
        host_id: uuid.UUID,
        *,
        role: Literal["server", "agent"],
        cluster_id: uuid.UUID | None = None,
        cluster_name: str | None = None,
    ) -> JobInfo:
        """Install K3s on a host as a job: ``server`` creates a cluster (named
        ``cluster_name``, default the host name) from the kubeconfig fetched over SSH;
        ``agent`` joins ``cluster_id``. The host ends ``in_cluster``. Returns the job."""
        if role not in ("server", "agent"):
            raise ValidationError("The role is server or agent.", {"role": "server or agent"})
        snap = await self._load(host_id)
        self._check_usable(snap)
        control: _HostSnapshot | None = None
        if role == "agent":
            if cluster_id is None:
                raise ValidationError("An agent joins a cluster: choose one.", {"cluster_id": "required"})
            control = await self._control_plane(cluster_id)
        elif cluster_id is not None:
            raise ValidationError(
                "A server starts a new cluster; leave cluster_id out.", {"cluster_id": "only for agents"}
            )
        name = cluster_name or snap.hostname.split(".")[0]
        kind = "install-k3s" if role == "server" else "join-cluster"
        title = f"Install K3s server on {snap.hostname}" if role == "server" else f"Join {snap.hostname}"
        job_id = await self.jobs.create(
            actor, kind, title, subject_type="host", subject_id=snap.id,
            params={"host_id": str(snap.id), "role": role, "cluster_id": str(cluster_id or "") or None},
        )  # fmt: skip

        async def work(handle: JobHandle) -> dict[str, Any]:
            target = await self._preflight(snap, handle)
            mesh = mesh_address(snap.addresses, snap.interfaces)
            reachable = reachable_address(snap.address, snap.addresses, mesh) or ""
            token = ""
            url: str | None = None
            if control is not None:
                control_target = await self._target(control)
                token = (await self._read_file(control_target, NODE_TOKEN_PATH, "the join token")).strip()
                await handle.line(f"Read the join token from {control.hostname} (not shown).")
                cp_mesh = mesh_address(control.addresses, control.interfaces)
                url = server_url(reachable_address(control.address, control.addresses, cp_mesh) or "")
            plan = K3sPlan(
                role=role, artifacts_dir=str(self.artifacts_dir), node_ip=mesh,
                tls_sans=tuple(a for a in (reachable, snap.address) if a), server_url=url, gpu=snap.gpu,
                install_prefix=self.install_prefix,
            )  # fmt: skip
            extravars = {**provision_vars(plan), **self.playbook_vars}
            if token:
                extravars["k3s_token"] = token
            result = await self._play(snap, target, "provision.yml", extravars, handle, secrets=(token,))
            if role == "agent":
                assert cluster_id is not None
                await self._join(snap, cluster_id)
                return {"rc": result.rc, "stats": result.stats, "cluster_id": str(cluster_id)}
            created = await self._create_cluster(actor, snap, target, name, reachable, handle)
            return {"rc": result.rc, "stats": result.stats, "cluster_id": str(created)}

        return await self.jobs.run(job_id, work)

    @operation(Permissions.HOSTS_PROVISION, Access.MUTATING)
    async def register_cluster(self, actor: Actor, host_id: uuid.UUID, name: str) -> JobInfo:
        """A host where a K3s server already runs becomes a cluster (kubeconfig fetched over
        SSH, stored encrypted) and its protected control-plane member. Returns the job."""
        snap = await self._load(host_id)
        if snap.cluster_id is not None:
            raise ConflictError(f"{snap.hostname} is already a member of a cluster.")
        self._check_reachable(snap)
        job_id = await self.jobs.create(
            actor, "register-cluster", f"Register the K3s cluster on {snap.hostname}", subject_type="host",
            subject_id=snap.id, params={"host_id": str(snap.id), "name": name},
        )  # fmt: skip

        async def work(handle: JobHandle) -> dict[str, Any]:
            target = await self._preflight(snap, handle)
            mesh = mesh_address(snap.addresses, snap.interfaces)
            reachable = reachable_address(snap.address, snap.addresses, mesh) or ""
            created = await self._create_cluster(actor, snap, target, name, reachable, handle, protect=True)
            return {"cluster_id": str(created)}

        return await self.jobs.run(job_id, work)

    @operation(Permissions.HOSTS_WIPE, Access.DESTRUCTIVE)
    async def wipe(self, actor: Actor, host_id: uuid.UUID) -> JobInfo:
        """Uninstall K3s from a host and verify nothing is left; a clean host is
        ``discovered`` again. Refused for protected hosts (delete the cluster first);
        leftovers are listed in the job, which then fails. Returns the job."""
        snap = await self._load(host_id)
        self._check_usable(snap, wiping=True)
        job_id = await self.jobs.create(
            actor, "wipe", f"Wipe {snap.hostname}", subject_type="host", subject_id=snap.id,
            params={"host_id": str(snap.id)},
        )  # fmt: skip

        async def work(handle: JobHandle) -> dict[str, Any]:
            target = await self._preflight(snap, handle)
            found: list[list[str]] = []

            async def watch(line: str) -> None:
                parsed = parse_leftovers(line)
                if parsed is not None:
                    found.append(parsed)
                await handle.line(line)

            extravars = {**wipe_vars(install_prefix=self.install_prefix), **self.playbook_vars}
            run = PlaybookRun(
                "wipe.yml", self._inventory_host(snap), extravars, target.known_hosts or "",
                target.private_key, self.ctx.settings.timeouts.ansible_run,
                ssh_timeout=self.ctx.settings.timeouts.ssh_connect,
            )  # fmt: skip
            result = await self.runner.run(run, on_line=watch)
            leftovers = found[-1] if found else None
            if leftovers:
                raise WipeLeftoversError(snap.hostname, leftovers)
            self._raise_for(result, snap)
            if leftovers is None:
                raise PlaybookFailedError("ansible", "The wipe verification did not report its result.")
            await self._mark_wiped(snap)
            return {"rc": result.rc, "stats": result.stats, "leftovers": []}

        return await self.jobs.run(job_id, work)

    # -- steps ----------------------------------------------------------------------------------
    async def _preflight(self, snap: _HostSnapshot, handle: JobHandle) -> SshTarget:
        target = await self._target(snap)
        await handle.line(f"Checking SSH to {target.label} …")
        result = await self.ssh.run_script(target, "true\n", sudo=True)
        result.check("The SSH check", target)
        await handle.line(f"SSH to {target.label} works.")
        return target

    async def _play(
        self,
        snap: _HostSnapshot,
        target: SshTarget,
        playbook: str,
        extravars: dict[str, Any],
        handle: JobHandle,
        *,
        secrets: tuple[str, ...] = (),
    ) -> PlaybookResult:
        run = PlaybookRun(
            playbook, self._inventory_host(snap), extravars, target.known_hosts or "", target.private_key,
            self.ctx.settings.timeouts.ansible_run, tuple(s for s in secrets if s),
            self.ctx.settings.timeouts.ssh_connect,
        )  # fmt: skip
        result = await self.runner.run(run, on_line=handle.line)
        self._raise_for(result, snap)
        return result

    @staticmethod
    def _raise_for(result: PlaybookResult, snap: _HostSnapshot) -> None:
        if result.ok:
            return
        if result.unreachable:
            raise TemporaryServiceError(
                "ansible", f"Ansible could not reach {snap.hostname}: {result.reason}"
            )
        raise PlaybookFailedError("ansible", f"The playbook failed on {snap.hostname}: {result.reason}")

    async def _create_cluster(
        self,
        actor: Actor,
        snap: _HostSnapshot,
        target: SshTarget,
        name: str,
        reachable: str,
        handle: JobHandle,
        *,
        protect: bool = False,
    ) -> uuid.UUID:
        text = await self._read_file(target, KUBECONFIG_PATH, "the kubeconfig")
        rewritten = rewrite_server(SecretValue(text), reachable)
        info = await self.clusters.create_from_kubeconfig(
            actor, name, SecretValue(rewritten), description=f"K3s on {snap.hostname}"
        )
        await handle.line(
            f"Created cluster {info.name} (API server {info.api_server}); kubeconfig stored encrypted."
        )
        try:
            async with self.db.unit_of_work() as uow:
                host = await uow.session.get(Host, snap.id, with_for_update=True)
                cluster = await uow.session.get(Cluster, info.id, with_for_update=True)
                if host is None or cluster is None:
                    raise NotFoundError("Host", snap.id)
                if host.cluster_id is not None:
                    raise ConflictError(f"{host.hostname} joined another cluster meanwhile.")
                host.cluster_id, host.cluster_role, host.state = info.id, "server", HostState.IN_CLUSTER
                if protect:
                    host.protected = True
                host.updated_at = now()
                cluster.control_plane_host_id = host.id
        except BaseException:
            await self.clusters.delete_cluster(Actor.system(), info.id)  # nothing half-done stays
            raise
        return info.id

    async def _join(self, snap: _HostSnapshot, cluster_id: uuid.UUID) -> None:
        async with self.db.unit_of_work() as uow:
            host = await uow.session.get(Host, snap.id, with_for_update=True)
            if host is None:
                raise NotFoundError("Host", snap.id)
            if (await uow.session.get(Cluster, cluster_id)) is None:
                raise NotFoundError("Cluster", cluster_id)
            host.cluster_id, host.cluster_role, host.state = cluster_id, "agent", HostState.IN_CLUSTER
            host.updated_at = now()

    async def _mark_wiped(self, snap: _HostSnapshot) -> None:
        async with self.db.unit_of_work() as uow:
            host = await uow.session.get(Host, snap.id, with_for_update=True)
            if host is None:
                raise NotFoundError("Host", snap.id)
            if host.cluster_id is not None:
                raise ConflictError(f"{host.hostname} joined a cluster while it was being wiped.")
            host.state, host.cluster_role, host.kubernetes_detected = HostState.DISCOVERED, None, False
            host.updated_at = now()

    async def _read_file(self, target: SshTarget, path: str, what: str) -> str:
        full = self.install_prefix + path
        result = await self.ssh.run_script(target, f"cat {shlex.quote(full)}\n", sudo=True)
        if not result.ok:
            raise PermanentServiceError(
                "ssh", f"Cannot read {what} at {full} on {target.label}: is K3s running there as a server?"
            )
        if not result.stdout.strip() or len(result.stdout) > _MAX_FILE:
            raise PermanentServiceError(
                "ssh", f"{what.capitalize()} at {full} on {target.label} is empty or too large."
            )
        return result.stdout

    # -- reading and checks ----------------------------------------------------------------
    async def _load(self, host_id: uuid.UUID) -> _HostSnapshot:
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(Host, k3s_installed_by_podwarden(Host.id)).where(Host.id == host_id)
                )
            ).one_or_none()
            if row is None:
                raise NotFoundError("Host", host_id)
            return _snapshot(row[0], bool(row[1]))

    async def _control_plane(self, cluster_id: uuid.UUID) -> _HostSnapshot:
        async with self.db.session() as session:
            cluster = await session.get(Cluster, cluster_id)
            if cluster is None:
                raise NotFoundError("Cluster", cluster_id)
            control_id = cluster.control_plane_host_id
            name = cluster.name
        if control_id is None:
            raise ValidationError(
                f"Cluster {name} has no control-plane host known to PodWarden, so there is no join token "
                "to read; register or provision its server first.",
                {"cluster_id": "no control-plane host"},
            )
        control = await self._load(control_id)
        self._check_reachable(control)
        return control

    @staticmethod
    def _check_reachable(snap: _HostSnapshot) -> None:
        if snap.address is None:
            raise ValidationError(
                f"Host {snap.hostname} has no SSH address; set one first.", {"ssh_address": "missing"}
            )
        if not (snap.known_hosts or "").strip():
            raise ValidationError(
                f"The SSH host key of {snap.hostname} is not pinned yet; probe the host first.",
                {"ssh_known_hosts": "not pinned"},
            )

    def _check_usable(self, snap: _HostSnapshot, *, wiping: bool = False) -> None:
        """Refuse cluster members and protected hosts. Kubernetes that PodWarden
        installed itself does not stop a wipe (it does stop installing again)."""
        if snap.cluster_id is not None or snap.state is HostState.IN_CLUSTER:
            raise ProtectedResourceError(
                f"{snap.hostname} is a member of a cluster; delete the cluster first."
            )
        if snap.protected or (snap.kubernetes_detected and not (wiping and snap.podwarden_k3s)):
            if snap.podwarden_k3s and not snap.protected:
                raise ProtectedResourceError(
                    f"{snap.hostname} still runs the K3s PodWarden installed there; wipe it first."
                )
            why = "Kubernetes was detected on it" if snap.kubernetes_detected else "it is marked protected"
            raise ProtectedResourceError(
                f"{snap.hostname} is protected ({why}); delete the cluster first (or register it as one)."
            )
        self._check_reachable(snap)

    async def _target(self, snap: _HostSnapshot) -> SshTarget:
        assert snap.address is not None
        key: SecretValue | None = None
        if snap.key_secret is not None:
            try:
                key = await self.secrets.reveal(snap.key_secret)
            except NotFoundError as exc:
                raise PermanentServiceError(
                    "ssh",
                    f"The SSH key secret '{snap.key_secret}' does not exist; set the host's SSH key again.",
                ) from exc
        return SshTarget(snap.address, snap.port, snap.user, key, snap.known_hosts)

    @staticmethod
    def _inventory_host(snap: _HostSnapshot) -> InventoryHost:
        assert snap.address is not None
        return InventoryHost(snap.hostname, snap.address, snap.port, snap.user)
