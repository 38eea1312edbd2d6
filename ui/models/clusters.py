"""Cluster tables: the clusters (a short list, loaded whole) and what lives inside one
cluster (nodes, namespaces, events from the overview; pods paged 500 at a time)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QModelIndex, QObject

from podwarden.engine.schemas.kube import EventInfo, NamespaceInfo, NodeInfo, PodInfo, PodPage
from podwarden.engine.services.clusters import ClusterInfo
from podwarden.ui.format import when
from podwarden.ui.models.table import Column, Index, RowsModel
from podwarden.ui.ops import run_op

STATUS_COLORS = {
    "reachable": "#26a269",
    "unreachable": "#c64600",
    "rejected": "#c01c28",
    "unknown": "#5e5c64",
}
POD_PAGE = 500
_ROOT = QModelIndex()

CLUSTER_COLUMNS: list[Column[ClusterInfo]] = [
    Column(
        "Cluster",
        lambda c: c.name + (" · protected" if c.protected else ""),
        tooltip=lambda c: c.description,
        width=20,
    ),
    Column("Status", lambda c: c.status, color=lambda c: STATUS_COLORS.get(c.status), width=11),
    Column("API server", lambda c: c.api_server or "", width=28),
    Column("Version", lambda c: c.kubernetes_version or "", width=14),
    Column("Hosts", lambda c: str(c.member_count), align_right=True, width=6),
    Column("Last seen", lambda c: when(c.last_seen_at), width=19),
]


def _node_ready(node: NodeInfo) -> str:
    return (
        {True: "Ready", False: "NotReady"}.get(node.ready, "Unknown") if node.ready is not None else "Unknown"
    )


NODE_COLUMNS: list[Column[NodeInfo]] = [
    Column("Node", lambda n: n.name, width=20),
    Column(
        "Status",
        _node_ready,
        color=lambda n: "#26a269" if n.ready else "#c01c28",
        tooltip=lambda n: "\n".join(f"{c.type}: {c.status} {c.reason or ''}" for c in n.conditions),
        width=9,
    ),
    Column("Roles", lambda n: ", ".join(n.roles), width=14),
    Column(
        "CPU",
        lambda n: "" if n.cpu_allocatable_millicores is None else f"{n.cpu_allocatable_millicores / 1000:g}",
        align_right=True,
        width=5,
    ),
    Column(
        "Memory",
        lambda n: (
            "" if n.memory_allocatable_bytes is None else f"{n.memory_allocatable_bytes / 2**30:.1f} GiB"
        ),
        align_right=True,
        width=10,
    ),
    Column("GPUs", lambda n: str(n.gpu_allocatable) if n.gpu_capacity else "", align_right=True, width=5),
    Column("Kubelet", lambda n: n.kubelet_version or "", width=14),
    Column("OS", lambda n: n.os_image or ""),
]

NAMESPACE_COLUMNS: list[Column[NamespaceInfo]] = [
    Column("Namespace", lambda n: n.name, width=24),
    Column("Phase", lambda n: n.phase or "", width=10),
    Column("Created", lambda n: when(n.created), width=19),
]

POD_COLUMNS: list[Column[PodInfo]] = [
    Column("Namespace", lambda p: p.namespace, width=14),
    Column("Pod", lambda p: p.name, width=28),
    Column("Status", lambda p: p.status, width=12),
    Column("Ready", lambda p: f"{p.ready_containers}/{p.total_containers}", align_right=True, width=6),
    Column("Restarts", lambda p: str(p.restarts), align_right=True, width=8),
    Column("Node", lambda p: p.node or "", width=14),
    Column("Owner", lambda p: p.owner or ""),
]

EVENT_COLUMNS: list[Column[EventInfo]] = [
    Column("Last seen", lambda e: when(e.last_seen), width=19),
    Column(
        "Type", lambda e: e.type or "", color=lambda e: "#c64600" if e.type == "Warning" else None, width=8
    ),
    Column("Reason", lambda e: e.reason or "", width=14),
    Column("Object", lambda e: f"{e.object_kind or ''}/{e.object_name or ''}", width=22),
    Column("Message", lambda e: e.message or "", tooltip=lambda e: e.message or ""),
]


class ClustersModel(RowsModel[uuid.UUID, ClusterInfo]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(CLUSTER_COLUMNS, lambda c: c.id, parent)


class NodesModel(RowsModel[str, NodeInfo]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(NODE_COLUMNS, lambda n: n.name, parent)


class NamespacesModel(RowsModel[str, NamespaceInfo]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(NAMESPACE_COLUMNS, lambda n: n.name, parent)


class EventsModel(RowsModel[tuple[str, str], EventInfo]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(EVENT_COLUMNS, lambda e: (e.namespace, e.name), parent)


PodLoader = Callable[[str | None], Awaitable[PodPage]]  # continue token -> page


class PodsModel(RowsModel[tuple[str, str], PodInfo]):
    """Pods a page (500) at a time through the API's continue tokens; the view asks for
    the next page when it scrolls near the end. ``loader`` None: nothing to show."""

    def __init__(self, parent: QObject | None = None, *, op_key: str = "clusters.pods") -> None:
        super().__init__(POD_COLUMNS, lambda p: (p.namespace, p.name), parent)
        self.op_key = op_key  # each viewer its own: two viewers never cancel each other's loads
        self.loader: PodLoader | None = None
        self.remaining: int | None = None
        self._token: str | None = None
        self._more = False
        self._fetching = False
        self._generation = 0

    def start(self, loader: PodLoader | None) -> None:
        """Show the pods ``loader`` pages through, from the first page."""
        self._generation += 1
        self.loader = loader
        self._token, self._more, self._fetching, self.remaining = None, False, False, None
        self.replace([])
        if loader is not None:
            self._load(first=True)

    def canFetchMore(self, parent: Index = _ROOT) -> bool:
        return not parent.isValid() and self._more and not self._fetching and self.loader is not None

    def fetchMore(self, parent: Index = _ROOT) -> None:
        if self.canFetchMore(parent):
            self._load(first=False)

    def _load(self, *, first: bool) -> None:
        loader, token, generation = self.loader, self._token, self._generation
        assert loader is not None
        self._fetching = True
        run_op(
            self,
            lambda: loader(None if first else token),
            on_success=lambda page: self._loaded(generation, page),
            on_failure=self._failed,
            key=self.op_key,
            progress_text="Loading pods…",
        )

    def _loaded(self, generation: int, page: PodPage) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._token = page.continue_token
        self._more = page.continue_token is not None
        self.remaining = page.remaining
        self.append(page.items)

    def _failed(self, _error: BaseException) -> bool:
        self._fetching = False
        return False
