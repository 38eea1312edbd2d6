"""Hosts (``hosts`` table): add by hand, edit, delete, read and page through them.

Tailscale hosts arrive through :mod:`~podwarden.engine.services.discovery`; this
service adds the hand-made ones and edits both kinds. Listing is paged, filtered
and sorted in SQL only (a desktop table pages 10,000+ hosts through
:meth:`HostsService.list_hosts`), with an allow-list of sort columns.

A host's SSH private key is an encrypted secret named ``host/<id>/ssh-key``
(kind ``ssh-key``), written in the same unit of work as the host; without one,
PodWarden uses the local ssh-agent. Key material never appears in messages.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, exists, false, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from podwarden.engine.db.database import UnitOfWork
from podwarden.engine.errors import ConflictError, NotFoundError, ProtectedResourceError, ValidationError
from podwarden.engine.models.access import Secret
from podwarden.engine.models.fleet import Cluster, Host, HostSource, HostState
from podwarden.engine.security.crypto import SecretValue
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Service, check_version, now
from podwarden.engine.services.secrets import SecretsService

__all__ = [
    "EDITABLE_FIELDS",
    "MAX_PAGE",
    "NETWORK_TYPES",
    "SORT_COLUMNS",
    "HostInfo",
    "HostPage",
    "HostsService",
    "ssh_key_secret_name",
]

MAX_PAGE: Final = 1000
MAX_NOTES: Final = 10_000
MAX_KEY_CHARS: Final = 64 * 1024
NETWORK_TYPES: Final = ("mesh", "lan", "public")
EDITABLE_FIELDS: Final = (
    "hostname",  # manual hosts only: discovery owns a Tailscale host's name
    "ssh_address",
    "ssh_port",
    "ssh_user",
    "ssh_private_key",  # a key (str / SecretValue) or None for the ssh-agent
    "notes",
    "is_gateway",
)

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_SSH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")


@dataclass(frozen=True)
class HostInfo:
    """One host as callers see it: no secrets, no raw probe document."""

    id: uuid.UUID
    hostname: str
    source: HostSource
    state: HostState
    addresses: tuple[str, ...]
    os: str | None
    tailscale_id: str | None
    tailscale_name: str | None
    tailscale_tags: tuple[str, ...]
    tailscale_last_seen: datetime | None
    ssh_address: str | None
    ssh_port: int
    ssh_user: str
    ssh_key_secret: str | None  # the secret's *name*; None = the local ssh-agent
    host_key_pinned: bool
    host_key_pending: bool
    cpu_model: str | None
    cpu_cores: int | None
    memory_bytes: int | None
    disk_bytes: int | None
    gpu_model: str | None
    gpu_count: int
    gpu_vram_mb: int | None
    network_types: tuple[str, ...]
    last_probe_at: datetime | None
    kubernetes_detected: bool
    protected: bool
    is_gateway: bool
    public_ip: str | None
    cluster_id: uuid.UUID | None
    cluster_role: str | None
    notes: str
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def uses_ssh_agent(self) -> bool:
        return self.ssh_key_secret is None


@dataclass(frozen=True)
class GpuCapacity:
    """GPU capacity of the fleet: hosts with GPUs, GPUs, and the VRAM known of them."""

    hosts: int
    gpus: int
    vram_mb: int


@dataclass(frozen=True)
class HostPage:
    """One page of a listing and the number of hosts matching the filters."""

    rows: tuple[HostInfo, ...]
    total: int
    offset: int
    limit: int


_Column = InstrumentedAttribute[Any] | ColumnElement[Any]

# The columns a listing reads (one Core SELECT, no ORM objects): HostInfo's fields in order.
_COLUMNS: Final[tuple[_Column, ...]] = (
    Host.id,
    Host.hostname,
    Host.source,
    Host.state,
    Host.addresses,
    Host.os,
    Host.tailscale_id,
    Host.tailscale_name,
    Host.tailscale_tags,
    Host.tailscale_last_seen,
    Host.ssh_address,
    Host.ssh_port,
    Host.ssh_user,
    Host.ssh_key_secret,
    Host.ssh_known_hosts.is_not(None).label("host_key_pinned"),
    Host.ssh_host_key_pending.is_not(None).label("host_key_pending"),
    Host.cpu_model,
    Host.cpu_cores,
    Host.memory_bytes,
    Host.disk_bytes,
    Host.gpu_model,
    Host.gpu_count,
    Host.gpu_vram_mb,
    Host.network_types,
    Host.last_probe_at,
    Host.kubernetes_detected,
    Host.protected,
    Host.is_gateway,
    Host.public_ip,
    Host.cluster_id,
    Host.cluster_role,
    Host.notes,
    Host.version,
    Host.created_at,
    Host.updated_at,
)

SORT_COLUMNS: Final[Mapping[str, InstrumentedAttribute[Any]]] = {
    "hostname": Host.hostname,
    "state": Host.state,  # enum order: discovered, provisioned, in_cluster, missing, error
    "source": Host.source,
    "os": Host.os,
    "ssh_address": Host.ssh_address,
    "cpu_cores": Host.cpu_cores,
    "memory_bytes": Host.memory_bytes,
    "disk_bytes": Host.disk_bytes,
    "gpu_model": Host.gpu_model,
    "gpu_count": Host.gpu_count,
    "gpu_vram_mb": Host.gpu_vram_mb,
    "tailscale_last_seen": Host.tailscale_last_seen,
    "last_probe_at": Host.last_probe_at,
    "created_at": Host.created_at,
    "updated_at": Host.updated_at,
}


_FIELDS: Final = tuple(field.name for field in fields(HostInfo))
assert len(_FIELDS) == len(_COLUMNS), "_COLUMNS lists HostInfo's fields in order"
_AS_TUPLE: Final = tuple(_FIELDS.index(name) for name in ("addresses", "tailscale_tags", "network_types"))
_AS_BOOL: Final = tuple(_FIELDS.index(name) for name in ("host_key_pinned", "host_key_pending"))


def _info_from_row(row: Sequence[Any]) -> HostInfo:
    """A HostInfo from a row of :data:`_COLUMNS` (extra trailing columns are ignored).

    The one mapping of rows to HostInfo (get_host and list_hosts); positional,
    because a listing maps a page of rows per keystroke. The enum columns arrive
    as HostSource/HostState already (SQLAlchemy's Enum type)."""
    values = list(row[: len(_FIELDS)])
    for index in _AS_TUPLE:
        values[index] = tuple(values[index] or ())
    for index in _AS_BOOL:
        values[index] = bool(values[index])
    return HostInfo(*values)


def ssh_key_secret_name(host_id: uuid.UUID) -> str:
    """The name of the secret holding a host's SSH private key."""
    return f"host/{host_id}/ssh-key"


# --- validation (pure) -------------------------------------------------------------


def _check_address(value: object, field: str) -> str:
    """An IP address (v4/v6, normalised) or a DNS host name (RFC 1123)."""
    what = "host name" if field == "hostname" else "SSH address"
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"The {what} is empty; give an IP address or a host name.", {field: "required"})
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    name = text.removesuffix(".")
    labels = name.split(".")
    if (
        len(name) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()  # "300.1.1.1" is a broken address, not a name
    ):
        raise ValidationError(
            f"'{text[:80]}' is not a valid IP address or host name (letters, digits and hyphens "
            "in dot-separated labels of up to 63 characters).",
            {field: "not an IP address or host name"},
        )
    return name


def _check_port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValidationError(
            f"The SSH port must be a whole number from 1 to 65535 (got {value!r}).",
            {"ssh_port": "must be 1-65535"},
        )
    return value


def _check_user(value: object) -> str:
    if not isinstance(value, str) or not _SSH_USER.fullmatch(value):
        raise ValidationError(
            "The SSH user is a login name of up to 32 letters, digits and . _ - "
            "(not starting with '.' or '-').",
            {"ssh_user": "invalid user name"},
        )
    return value


def _check_notes(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_NOTES:
        raise ValidationError(
            f"Notes are text of up to {MAX_NOTES:,} characters.", {"notes": "too long or not text"}
        )
    return value


def _check_private_key(value: object) -> SecretValue:
    """Parse the key with asyncssh; the message never contains any of it."""
    if isinstance(value, SecretValue):
        text = value.reveal()
    elif isinstance(value, str):
        text = value
    else:
        raise ValidationError(
            "The SSH private key must be text (an OpenSSH or PEM private key).",
            {"ssh_private_key": "not text"},
        )
    if not text.strip() or len(text) > MAX_KEY_CHARS:
        raise ValidationError(
            "The SSH private key is empty or too large; paste an OpenSSH or PEM private key, "
            "or leave it out to use the local ssh-agent.",
            {"ssh_private_key": "empty or too large"},
        )
    from podwarden.engine.adapters.ssh import PrivateKeyError, check_private_key  # heavy import

    try:
        check_private_key(text)
    except PrivateKeyError as exc:
        reason = (
            "it is protected by a passphrase, which PodWarden does not store; "
            "give an unencrypted key or load it into the ssh-agent"
            if exc.encrypted
            else "it is not an OpenSSH or PEM private key (a public key or a damaged paste?)"
        )
        raise ValidationError(
            f"The SSH private key could not be read: {reason}.", {"ssh_private_key": "unreadable key"}
        ) from None
    return SecretValue(text if text.endswith("\n") else text + "\n")


def _is_public_ip(value: str | None) -> bool:
    if not value:
        return False
    try:
        return ipaddress.ip_address(value).is_global
    except ValueError:
        return False


def _state_list(state: HostState | str | Iterable[HostState | str]) -> list[HostState]:
    values = [state] if isinstance(state, str) else list(state)
    try:
        return [HostState(v) for v in values]
    except ValueError as exc:
        allowed = ", ".join(s.value for s in HostState)
        raise ValidationError(f"Unknown host state; use one of {allowed}.", {"state": "unknown"}) from exc


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


#: Characters of ``hosts.search_text`` that are not part of any searched value: the
#: field separator (U+001F) and the JSON text around the addresses. A filter without
#: them cannot match across two values, so ``search_text LIKE`` alone is exact.
_SEARCH_DECORATION: Final = frozenset('\x1f[]", \\')


def _text_filter(text: str) -> ColumnElement[bool]:
    """``text`` anywhere (case-insensitive) in the host name, the Tailscale name, the SSH
    address or one of the addresses.

    One ``LIKE`` on the generated ``hosts.search_text`` (lower-cased, trigram-indexed
    when pg_trgm is there). When the text holds a separator or JSON character, the
    per-field test decides for the rows that pass it (no match across two values).
    """
    pattern = _like_pattern(text)
    cheap = Host.search_text.like(func.lower(pattern))
    if not _SEARCH_DECORATION.intersection(text) and not any(ord(c) < 0x20 for c in text):
        return cheap
    element = func.jsonb_array_elements_text(Host.addresses).table_valued("value").alias("a")
    exact = or_(
        Host.hostname.ilike(pattern),
        Host.tailscale_name.ilike(pattern),
        Host.ssh_address.ilike(pattern),
        exists(select(literal(1)).select_from(element).where(element.c.value.ilike(pattern))),
    )
    return and_(cheap, exact)


# --- the service ---------------------------------------------------------------------


class HostsService(Service):
    # -- reading ------------------------------------------------------------------------
    @operation(Permissions.READ, Access.READ)
    async def get_host(self, actor: Actor, host_id: uuid.UUID) -> HostInfo:
        """One host."""
        async with self.db.session() as session:
            row = (await session.execute(select(*_COLUMNS).where(Host.id == host_id))).first()
        if row is None:
            raise NotFoundError("Host", host_id)
        return _info_from_row(row)

    @operation(Permissions.READ, Access.READ)
    async def list_hosts(
        self,
        actor: Actor,
        *,
        state: HostState | str | Iterable[HostState | str] | None = None,
        network_type: str | None = None,
        has_gpu: bool | None = None,
        text: str | None = None,
        sort: str = "hostname",
        descending: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> HostPage:
        """A page of hosts, filtered and sorted by the database.

        ``text`` matches (case-insensitively, anywhere) the host name, the Tailscale
        name, the SSH address and each address; ``network_type`` is mesh, lan or
        public; ``sort`` is one of :data:`SORT_COLUMNS` (empty values sort last;
        ties are broken by id so pages never overlap).
        """
        if sort not in SORT_COLUMNS:
            raise ValidationError(
                f"Hosts cannot be sorted by '{sort}'; use one of {', '.join(SORT_COLUMNS)}.",
                {"sort": "unknown column"},
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"A page holds 1 to {MAX_PAGE} hosts.", {"limit": f"1-{MAX_PAGE}"})
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError("The offset cannot be negative.", {"offset": ">= 0"})
        where = self._filters(state=state, network_type=network_type, has_gpu=has_gpu, text=text)
        column = SORT_COLUMNS[sort]
        order = (column.desc() if descending else column.asc()).nulls_last()
        tie = Host.id.desc() if descending else Host.id.asc()
        count = select(func.count()).select_from(Host).where(*where)
        # One round trip: the count rides along as an uncorrelated scalar subquery
        # (computed once); only a page past the end needs a second query for it.
        page = (
            select(*_COLUMNS, count.scalar_subquery().label("_total"))
            .where(*where)
            .order_by(order, tie)
            .limit(limit)
            .offset(offset)
        )
        async with self.db.session() as session:
            rows = (await session.execute(page)).all()
            total = int(rows[0][-1]) if rows else int((await session.execute(count)).scalar_one())
        return HostPage(tuple(_info_from_row(r) for r in rows), total, offset, limit)

    @operation(Permissions.READ, Access.READ)
    async def count_by_state(self, actor: Actor) -> dict[HostState, int]:
        """How many hosts are in each state (every state present, zeros included)."""
        async with self.db.session() as session:
            result = await session.execute(select(Host.state, func.count()).group_by(Host.state))
            counts = {HostState(state): int(n) for state, n in result.all()}
        return {state: counts.get(state, 0) for state in HostState}

    @operation(Permissions.READ, Access.READ)
    async def gpu_capacity(self, actor: Actor) -> GpuCapacity:
        """GPU hosts, GPUs and their known VRAM over the whole fleet (one aggregate)."""
        stmt = select(
            func.count(),
            func.coalesce(func.sum(Host.gpu_count), 0),
            func.coalesce(func.sum(Host.gpu_count * func.coalesce(Host.gpu_vram_mb, 0)), 0),
        ).where(Host.gpu_count > 0)
        async with self.db.session() as session:
            hosts, gpus, vram = (await session.execute(stmt)).one()
        return GpuCapacity(hosts=int(hosts), gpus=int(gpus), vram_mb=int(vram))

    # -- changing -----------------------------------------------------------------------
    @operation(Permissions.HOSTS_MANAGE, Access.MUTATING)
    async def add_manual_host(
        self,
        actor: Actor,
        *,
        hostname: str,
        ssh_address: str | None = None,
        ssh_port: int = 22,
        ssh_user: str = "root",
        ssh_private_key: str | SecretValue | None = None,
        notes: str = "",
    ) -> HostInfo:
        """Add a host by IP address or host name; with an SSH key (stored encrypted) or the ssh-agent.

        ``ssh_address`` defaults to ``hostname``. A host PodWarden already reaches at
        the same address and port is a :class:`ConflictError`.
        """
        name = _check_address(hostname, "hostname")
        address = name if ssh_address is None else _check_address(ssh_address, "ssh_address")
        port = _check_port(ssh_port)
        user = _check_user(ssh_user)
        note = _check_notes(notes)
        key = None if ssh_private_key is None else _check_private_key(ssh_private_key)
        host_id = uuid.uuid4()
        async with self.db.unit_of_work() as uow:
            await self._refuse_duplicate(uow, address, port, None)
            host = Host(
                id=host_id,
                hostname=name,
                source=HostSource.MANUAL,
                state=HostState.DISCOVERED,
                addresses=[name] if _is_ip(name) else [],
                ssh_address=address,
                ssh_port=port,
                ssh_user=user,
                notes=note,
            )
            if key is not None:
                host.ssh_key_secret = await self._store_key(uow, host_id, name, key)
            uow.session.add(host)
        return await self.get_host(actor, host_id)

    @operation(Permissions.HOSTS_MANAGE, Access.MUTATING)
    async def update_host(
        self, actor: Actor, host_id: uuid.UUID, changes: dict[str, Any], *, expected_version: int
    ) -> HostInfo:
        """Change editable fields (:data:`EDITABLE_FIELDS`) of a host loaded at ``expected_version``.

        ``ssh_private_key`` replaces the stored key; ``None`` deletes it and switches
        to the local ssh-agent. Renaming a manual host whose SSH address was its name
        moves the address too. A stale ``expected_version`` is a :class:`ConflictError`.
        """
        unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
        if unknown:
            raise ValidationError(
                f"Not editable here: {', '.join(unknown)}; editable host fields are "
                f"{', '.join(EDITABLE_FIELDS)}.",
                {field: "not editable" for field in unknown},
            )
        values = dict(changes)
        if "hostname" in values:
            values["hostname"] = _check_address(values["hostname"], "hostname")
        if "ssh_address" in values:
            values["ssh_address"] = _check_address(values["ssh_address"], "ssh_address")
        if "ssh_port" in values:
            values["ssh_port"] = _check_port(values["ssh_port"])
        if "ssh_user" in values:
            values["ssh_user"] = _check_user(values["ssh_user"])
        if "notes" in values:
            values["notes"] = _check_notes(values["notes"])
        if "is_gateway" in values and not isinstance(values["is_gateway"], bool):
            raise ValidationError("is_gateway is true or false.", {"is_gateway": "not a boolean"})
        key_given = "ssh_private_key" in values
        key = values.pop("ssh_private_key", None)
        new_key = None if key is None else _check_private_key(key)

        async with self.db.unit_of_work() as uow:
            host = await uow.session.get(Host, host_id, with_for_update=True)
            if host is None:
                raise NotFoundError("Host", host_id)
            check_version(host, expected_version, "host")
            if "hostname" in values and host.source is not HostSource.MANUAL:
                raise ValidationError(
                    f"{host.hostname} comes from Tailscale: discovery keeps its name in step with the "
                    "tailnet, so rename the machine there.",
                    {"hostname": "owned by Tailscale discovery"},
                )
            if values.get("is_gateway") is True and not self._has_public_address(host, values):
                raise ValidationError(
                    f"{host.hostname} has no known public address; probe it first (or give a public "
                    "SSH address) before making it a gateway.",
                    {"is_gateway": "no public address"},
                )
            if "hostname" in values and "ssh_address" not in values and host.ssh_address == host.hostname:
                values["ssh_address"] = values["hostname"]  # the address was the name: keep them together
            if "ssh_address" in values or "ssh_port" in values:
                await self._refuse_duplicate(
                    uow,
                    values.get("ssh_address", host.ssh_address),
                    values.get("ssh_port", host.ssh_port),
                    host.id,
                )
            for field, value in values.items():
                setattr(host, field, value)
            if host.source is HostSource.MANUAL and "hostname" in values:
                host.addresses = [host.hostname] if _is_ip(host.hostname) else []
            if key_given:
                if new_key is not None:
                    host.ssh_key_secret = await self._store_key(uow, host.id, host.hostname, new_key)
                elif host.ssh_key_secret is not None:
                    await self._delete_key(uow, host.ssh_key_secret)
                    host.ssh_key_secret = None
                host.updated_at = now()  # the key lives elsewhere: still a change to this host
        return await self.get_host(actor, host_id)

    @operation(Permissions.HOSTS_MANAGE, Access.DESTRUCTIVE)
    async def delete_host(
        self, actor: Actor, host_id: uuid.UUID, *, expected_version: int | None = None
    ) -> None:
        """Forget a host and its stored SSH key. Refused for protected hosts and cluster members.

        A Tailscale host that is still in the tailnet comes back as ``discovered`` at
        the next discovery run.
        """
        async with self.db.unit_of_work() as uow:
            host = await uow.session.get(Host, host_id, with_for_update=True)
            if host is None:
                raise NotFoundError("Host", host_id)
            check_version(host, expected_version, "host")
            await self._refuse_protected(uow, host)
            if host.ssh_key_secret is not None:
                await self._delete_key(uow, host.ssh_key_secret)
            await uow.session.delete(host)

    # -- helpers ------------------------------------------------------------------------
    def _filters(
        self,
        *,
        state: HostState | str | Iterable[HostState | str] | None,
        network_type: str | None,
        has_gpu: bool | None,
        text: str | None,
    ) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if state is not None:
            states = _state_list(state)
            where.append(Host.state.in_(states) if states else false())
        if network_type is not None:
            if network_type not in NETWORK_TYPES:
                raise ValidationError(
                    f"Unknown network type '{network_type}'; use one of {', '.join(NETWORK_TYPES)}.",
                    {"network_type": "unknown"},
                )
            where.append(Host.network_types.contains([network_type]))
        if has_gpu is not None:
            where.append(Host.gpu_count > 0 if has_gpu else Host.gpu_count == 0)
        if text is not None and text.strip():
            where.append(_text_filter(text.strip()))
        return where

    async def _refuse_duplicate(
        self, uow: UnitOfWork, address: str | None, port: int, own_id: uuid.UUID | None
    ) -> None:
        if address is None:
            return
        stmt = select(Host.hostname).where(
            and_(func.lower(Host.ssh_address) == address.lower(), Host.ssh_port == port)
        )
        if own_id is not None:
            stmt = stmt.where(Host.id != own_id)
        other = (await uow.session.execute(stmt.limit(1))).scalar_one_or_none()
        if other is not None:
            raise ConflictError(
                f"Host {other} is already reached at {address} port {port}; edit that host instead."
            )

    async def _refuse_protected(self, uow: UnitOfWork, host: Host) -> None:
        if host.cluster_id is not None or host.state is HostState.IN_CLUSTER:
            name = None
            if host.cluster_id is not None:
                name = (
                    await uow.session.execute(select(Cluster.name).where(Cluster.id == host.cluster_id))
                ).scalar_one_or_none()
            where = f"cluster {name}" if name else "a cluster"
            raise ProtectedResourceError(
                f"{host.hostname} is a member of {where}; remove it from the cluster (or delete the "
                "cluster) first."
            )
        if host.protected or host.kubernetes_detected:
            why = "Kubernetes was detected on it" if host.kubernetes_detected else "it is marked protected"
            raise ProtectedResourceError(
                f"{host.hostname} is protected ({why}); PodWarden will not forget it. Delete its "
                "cluster or lift the protection first."
            )

    @staticmethod
    def _has_public_address(host: Host, values: Mapping[str, Any]) -> bool:
        return (
            _is_public_ip(host.public_ip)
            or "public" in (host.network_types or [])
            or _is_public_ip(values.get("ssh_address", host.ssh_address))
            or _is_public_ip(values.get("hostname", host.hostname))
        )

    async def _store_key(self, uow: UnitOfWork, host_id: uuid.UUID, hostname: str, key: SecretValue) -> str:
        name = ssh_key_secret_name(host_id)
        await SecretsService(self.ctx).put(
            uow, name, key, kind="ssh-key", description=f"SSH private key for host {hostname}"
        )
        return name

    @staticmethod
    async def _delete_key(uow: UnitOfWork, name: str) -> None:
        row = (await uow.session.execute(select(Secret).where(Secret.name == name))).scalar_one_or_none()
        if row is not None:
            await uow.session.delete(row)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
