"""Clusters: the list; add; a detail with live nodes, namespaces, pods (paged) and events;
a pod log viewer that can follow; the protected toggle; delete after the affected preview.

Everything that talks to a cluster runs as an op (never blocking the window);
nothing is contacted until a cluster is selected.
"""

from __future__ import annotations

import asyncio
import uuid

from PySide6.QtCore import QItemSelection, QModelIndex
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QPushButton,
    QTabWidget,
    QWidget,
)

from podwarden.engine.schemas.kube import EventInfo, PodInfo
from podwarden.engine.security.rbac import Permissions
from podwarden.engine.services.clusters import AffectedPreview, ClusterInfo, ClusterOverview
from podwarden.ui.context import UiContext
from podwarden.ui.dialogs.add_cluster import AddClusterDialog
from podwarden.ui.dialogs.confirm import AffectedPreviewDialog
from podwarden.ui.format import when
from podwarden.ui.models.clusters import ClustersModel, EventsModel, NamespacesModel, NodesModel
from podwarden.ui.ops import run_op
from podwarden.ui.roles import guard, set_enabled
from podwarden.ui.views.base import View
from podwarden.ui.widgets.layout import master_detail, toolbar
from podwarden.ui.widgets.pod_logs import PodLogViewer, PodSource
from podwarden.ui.widgets.table import select_key, table_view


class ClustersView(View):
    watched = frozenset({"clusters"})

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setObjectName("page-clusters")
        self.model = ClustersModel(self)
        self.nodes = NodesModel(self)
        self.namespaces = NamespacesModel(self)
        self.events = EventsModel(self)
        self.selected: uuid.UUID | None = None
        self.overview: ClusterOverview | None = None

        self.add_button = QPushButton("Add cluster…")
        self.add_button.setObjectName("add-cluster")
        guard(
            self.add_button, ctx.actor, Permissions.CLUSTERS_MANAGE, tooltip="Add a cluster from a kubeconfig"
        )
        self.add_button.clicked.connect(self.add_cluster)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("refresh-cluster")
        self.refresh_button.clicked.connect(self.load_detail)
        self.protected = QCheckBox("Protected")
        self.protected.setObjectName("protected")
        guard(self.protected, ctx.actor, Permissions.CLUSTERS_DELETE, tooltip="Refuse deleting this cluster")
        self.protected.clicked.connect(self.set_protected)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("delete-cluster")
        guard(
            self.delete_button, ctx.actor, Permissions.CLUSTERS_DELETE, tooltip="Delete the selected cluster"
        )
        self.delete_button.clicked.connect(self.delete_selected)

        self.table = table_view(self.model, "clusters-table", stretch=2)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.title = QLabel("No cluster selected")
        self.title.setObjectName("cluster-title")
        self.title.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.facts = QLabel()
        self.facts.setObjectName("cluster-facts")
        self.facts.setWordWrap(True)

        self.nodes_table = table_view(self.nodes, "nodes-table", stretch=7)
        self.namespaces_table = table_view(self.namespaces, "namespaces-table", stretch=0)
        self.events_table = table_view(self.events, "events-table", stretch=4)
        self.pod_logs = PodLogViewer(ctx.engine, ctx.actor, key="clusters", parent=self)
        # The names the view had before the shared widget (tests and callers use them).
        self.pods, self.pods_table, self.log = self.pod_logs.pods, self.pod_logs.pods_table, self.pod_logs.log
        self.follow, self.log_button = self.pod_logs.follow, self.pod_logs.log_button

        self.tabs = QTabWidget()
        self.tabs.setObjectName("cluster-tabs")
        self.tabs.addTab(self.nodes_table, "Nodes")
        self.tabs.addTab(self.namespaces_table, "Namespaces")
        self.tabs.addTab(self.pod_logs, "Pods")
        self.tabs.addTab(self.events_table, "Events")

        bar = toolbar([self.add_button], [self.refresh_button, self.protected, self.delete_button])
        master_detail(self, [bar], self.table, [self.title, self.facts, self.tabs], stretch=(1, 3))
        self.model.dataChanged.connect(self._rows_changed)
        self.model.modelReset.connect(self._restore_selection)
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self._update_actions()

    # -- the list ---------------------------------------------------------------------------
    def reload(self) -> None:
        run_op(
            self,
            lambda: self.engine.clusters.list_clusters(self.actor),
            on_success=self.model.replace,
            key="clusters.list",
            progress_text="Loading clusters…",
        )

    def select_cluster(self, cluster_id: uuid.UUID) -> bool:
        return select_key(self.table, self.model, cluster_id)

    @property
    def selected_cluster(self) -> ClusterInfo | None:
        return None if self.selected is None else self.model.get(self.selected)

    def _selection_changed(self, _s: QItemSelection, _d: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        chosen = self.model.key_at(rows[0].row()) if rows else None
        if chosen == self.selected:
            return
        self.selected = chosen
        self.overview = None
        for model in (self.nodes, self.namespaces, self.events):
            model.replace([])
        self.pod_logs.show_pods(None)
        self._show_facts()
        self.load_detail()

    def _remember_selection(self) -> None:
        self._kept = self.selected

    def _restore_selection(self) -> None:
        kept = getattr(self, "_kept", None)
        if kept is None or not self.select_cluster(kept):
            self.table.clearSelection()

    def _rows_changed(self, top: QModelIndex, bottom: QModelIndex) -> None:
        row = None if self.selected is None else self.model.row_of(self.selected)
        if row is not None and top.row() <= row <= bottom.row():
            self._show_facts()

    def _show_facts(self) -> None:
        cluster = self.selected_cluster
        if cluster is None:
            self.title.setText("No cluster selected")
            self.facts.clear()
        else:
            self.title.setText(cluster.name + ("  · protected" if cluster.protected else ""))
            parts = [
                f"API server {cluster.api_server or '?'}",
                f"context {cluster.context or '?'}",
                f"status {cluster.status}",
                f"Kubernetes {cluster.kubernetes_version or '?'}",
                f"{cluster.member_count} PodWarden hosts",
                f"last seen {when(cluster.last_seen_at) or 'never'}",
            ]
            overview = self.overview
            if overview is not None and overview.cluster.id == cluster.id:
                parts.append(
                    f"{overview.ready_nodes}/{len(overview.nodes)} nodes ready · "
                    f"{overview.gpu_allocatable} GPUs allocatable · "
                    f"default storage class {overview.default_storage_class or 'none'}"
                )
            self.facts.setText(" · ".join(parts))
            self.protected.setChecked(cluster.protected)
        self._update_actions()

    def _update_actions(self) -> None:
        cluster = self.selected_cluster
        set_enabled(self.protected, cluster is not None)
        set_enabled(self.delete_button, cluster is not None)
        self.refresh_button.setEnabled(cluster is not None)

    # -- inside the cluster -----------------------------------------------------------------
    def load_detail(self) -> None:
        cluster = self.selected_cluster
        if cluster is None:
            self.pod_logs.show_pods(None)
            return
        cid = cluster.id
        run_op(
            self,
            lambda: self.engine.clusters.cluster_overview(self.actor, cid),
            on_success=self._overview_loaded,
            key="clusters.overview",
            progress_text=f"Looking inside {cluster.name}…",
        )
        run_op(
            self,
            lambda: self.engine.clusters.events(self.actor, cid),
            on_success=lambda events: self._events_loaded(cid, events),
            key="clusters.events",
            progress_text=f"Reading the events of {cluster.name}…",
        )
        self.pod_logs.show_pods(PodSource(cid))

    def _overview_loaded(self, overview: ClusterOverview) -> None:
        if overview.cluster.id != self.selected:
            return
        self.overview = overview
        self.nodes.replace(overview.nodes)
        self.namespaces.replace(overview.namespaces)
        self.model.update([overview.cluster])
        self._show_facts()

    def _events_loaded(self, cluster_id: uuid.UUID, events: list[EventInfo]) -> None:
        if cluster_id == self.selected:
            self.events.replace(events)

    # -- pod logs (the shared PodLogViewer) -----------------------------------------------
    @property
    def selected_pod(self) -> PodInfo | None:
        return self.pod_logs.selected_pod

    @property
    def follow_task(self) -> asyncio.Task[None] | None:
        return self.pod_logs.follow_task

    def select_pod(self, namespace: str, name: str) -> bool:
        return self.pod_logs.select_pod(namespace, name)

    def show_log(self) -> None:
        self.pod_logs.show_log()

    def stop_follow(self) -> None:
        self.pod_logs.stop_follow()

    # -- actions ----------------------------------------------------------------------------
    def add_cluster(self) -> AddClusterDialog:
        dialog = AddClusterDialog(self.engine, self.actor, self)
        dialog.created.connect(self._cluster_added)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()
        return dialog

    def _cluster_added(self, cluster: ClusterInfo) -> None:
        self.model.replace([*[self.model.row_at(i) for i in range(self.model.rowCount())], cluster])
        self.reload()

    def set_protected(self, on: bool) -> None:
        cluster = self.selected_cluster
        if cluster is None:
            return
        run_op(
            self,
            lambda: self.engine.clusters.set_protected(
                self.actor, cluster.id, on, expected_version=cluster.version
            ),
            on_success=lambda info: self.model.update([info]),
            on_failure=lambda _e: self._protect_failed(cluster),
            key=f"clusters.protect.{cluster.id}",
            progress_text=f"{'Protecting' if on else 'Unprotecting'} {cluster.name}…",
        )

    def _protect_failed(self, cluster: ClusterInfo) -> bool:
        self.protected.setChecked(cluster.protected)
        return False  # the error panel shows it

    def delete_selected(self) -> None:
        cluster = self.selected_cluster
        if cluster is None:
            return
        run_op(
            self,
            lambda: self.engine.clusters.affected_by_delete(self.actor, cluster.id),
            on_success=lambda preview: self._confirm_delete(cluster, preview),
            key="clusters.affected",
            progress_text=f"What deleting {cluster.name} touches…",
        )

    def _confirm_delete(self, cluster: ClusterInfo, preview: AffectedPreview) -> AffectedPreviewDialog:
        def delete() -> None:
            run_op(
                self,
                lambda: self.engine.clusters.delete_cluster(
                    self.actor, cluster.id, expected_version=cluster.version
                ),
                on_success=lambda _p: self.model.remove(cluster.id),
                key=f"clusters.delete.{cluster.id}",
                progress_text=f"Deleting {cluster.name}…",
            )

        dialog = AffectedPreviewDialog(preview, delete, self)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()
        self.preview_dialog = dialog
        return dialog
