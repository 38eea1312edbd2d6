"""The hosts table: ids in the engine's order, pages from ``engine.hosts.list_hosts``.

Sorting (a header click) and filtering (state, network type, GPU, text) are
parameters of the SQL query: :meth:`HostsModel.sort` and :meth:`HostsModel.set_filters`
reload from the first row; nothing is sorted or filtered in Python. A newer
load cancels a stale one (the loads share one op key).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, Qt

from podwarden.engine import Actor, Engine
from podwarden.engine.errors import NotFoundError
from podwarden.engine.models.fleet import HostState
from podwarden.engine.services.hosts import HostInfo
from podwarden.ui.format import when
from podwarden.ui.models.table import Column, PagedRowsModel

STATE_COLORS = {
    HostState.DISCOVERED: "#1a5fb4",
    HostState.PROVISIONED: "#26a269",
    HostState.IN_CLUSTER: "#613583",
    HostState.MISSING: "#986a44",
    HostState.ERROR: "#c01c28",
}


def gib(value: int | None) -> str:
    return "" if value is None else f"{value / 2**30:.1f} GiB"


def gpu_text(host: HostInfo) -> str:
    if host.gpu_count <= 0:
        return ""
    vram = f" ({host.gpu_vram_mb} MiB each)" if host.gpu_vram_mb else ""
    return f"{host.gpu_count} × {host.gpu_model or 'GPU'}{vram}"


def _name_tooltip(host: HostInfo) -> str:
    lines = [host.hostname]
    if host.protected or host.kubernetes_detected:
        lines.append("protected" + (" (Kubernetes detected)" if host.kubernetes_detected else ""))
    if host.host_key_pending:
        lines.append("its SSH host key changed: an admin must check and accept it")
    return "\n".join(lines)


def _name(host: HostInfo) -> str:
    badge = " · protected" if host.protected or host.kubernetes_detected else ""
    warn = " ⚠" if host.host_key_pending else ""
    return f"{host.hostname}{badge}{warn}"


#: (column, the engine's sort key or None when the column does not sort)
HOST_COLUMNS: list[tuple[Column[HostInfo], str | None]] = [
    (Column("Host", _name, tooltip=_name_tooltip, width=24), "hostname"),
    (
        Column("State", lambda h: h.state.value, color=lambda h: STATE_COLORS.get(h.state), width=11),
        "state",
    ),
    (Column("Source", lambda h: h.source.value, width=9), "source"),
    (Column("SSH address", lambda h: h.ssh_address or "", width=16), "ssh_address"),
    (Column("OS", lambda h: h.os or "", width=14), "os"),
    (
        Column("CPU", lambda h: "" if h.cpu_cores is None else str(h.cpu_cores), align_right=True, width=5),
        "cpu_cores",
    ),
    (Column("RAM", lambda h: gib(h.memory_bytes), align_right=True, width=10), "memory_bytes"),
    (Column("GPU", gpu_text, width=20), "gpu_count"),
    (Column("Networks", lambda h: ", ".join(h.network_types), width=14), None),
    (Column("Last probe", lambda h: when(h.last_probe_at), width=19), "last_probe_at"),
]


@dataclass(frozen=True)
class HostFilters:
    state: HostState | None = None
    network_type: str | None = None
    has_gpu: bool | None = None
    text: str = ""

    def matches(self, host: HostInfo) -> bool:
        """The same test as the SQL, for a single row refreshed by a change notice."""
        if self.state is not None and host.state is not self.state:
            return False
        if self.network_type is not None and self.network_type not in host.network_types:
            return False
        if self.has_gpu is not None and (host.gpu_count > 0) != self.has_gpu:
            return False
        needle = self.text.strip().lower()
        if needle:
            haystack = [host.hostname, host.tailscale_name or "", host.ssh_address or "", *host.addresses]
            return any(needle in value.lower() for value in haystack)
        return True


class HostsModel(PagedRowsModel[uuid.UUID, HostInfo]):
    def __init__(
        self, engine: Engine, actor: Actor, *, page_size: int = 100, parent: QObject | None = None
    ) -> None:
        self.engine = engine
        self.actor = actor
        self.filters = HostFilters()
        self.sort_key = "hostname"
        self.descending = False
        self.total = 0  # hosts matching the filters (from the last page read)
        self.sort_keys = [key for _, key in HOST_COLUMNS]
        super().__init__(
            [column for column, _ in HOST_COLUMNS],
            lambda host: host.id,
            load_page=self._load_page,
            load_one=self._load_one,
            matches=lambda host: self.filters.matches(host),
            page_size=page_size,
            name="hosts",
            parent=parent,
        )

    # -- SQL sorting and filtering ----------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """A header click: the database sorts (columns without a sort key are ignored)."""
        if not 0 <= column < len(self.sort_keys):
            return
        key = self.sort_keys[column]
        if key is None:
            return
        self.sort_key = key
        self.descending = order == Qt.SortOrder.DescendingOrder
        self.reload(from_start=True)

    def set_filters(self, **changes: object) -> None:
        """Change some filters (state, network_type, has_gpu, text) and load from the start."""
        self.filters = replace(self.filters, **changes)  # type: ignore[arg-type]
        self.reload(from_start=True)

    async def _load_page(self, offset: int, limit: int) -> list[HostInfo]:
        f = self.filters
        page = await self.engine.hosts.list_hosts(
            self.actor,
            state=f.state,
            network_type=f.network_type,
            has_gpu=f.has_gpu,
            text=f.text or None,
            sort=self.sort_key,
            descending=self.descending,
            limit=limit,
            offset=offset,
        )
        self.total = page.total
        return list(page.rows)

    async def _load_one(self, host_id: uuid.UUID) -> HostInfo | None:
        try:
            return await self.engine.hosts.get_host(self.actor, host_id)
        except NotFoundError:
            return None
