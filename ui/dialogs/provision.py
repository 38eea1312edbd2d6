"""Provision a host (K3s server = a new cluster, or agent joining one) or register the
K3s server already running on it as a cluster. The work runs as a job (see Jobs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QDialog, QLabel, QVBoxLayout, QWidget

from podwarden.engine import Actor, Engine
from podwarden.engine.services.clusters import ClusterInfo
from podwarden.engine.services.hosts import HostInfo
from podwarden.ui.dialogs.common import Buttons, text_field
from podwarden.ui.ops import run_op
from podwarden.ui.widgets.form import Form

SERVER, AGENT = "server", "agent"


class ProvisionDialog(QDialog):
    """``register``: only a cluster name; else role, and the cluster an agent joins."""

    def __init__(
        self,
        engine: Engine,
        actor: Actor,
        service: Any,
        host: HostInfo,
        parent: QWidget,
        *,
        register: bool = False,
        on_started: Callable[[object], object] | None = None,
    ) -> None:
        super().__init__(parent)
        self.view = parent  # the op outlives the dialog: it runs for the view
        self.on_started = on_started
        self.setObjectName("register-cluster" if register else "provision")
        self.setWindowTitle(f"{'Register the cluster on' if register else 'Provision'} {host.hostname}")
        self.engine, self.actor, self.service, self.host, self.register = (
            engine,
            actor,
            service,
            host,
            register,
        )
        self.form = Form()
        self.role = QComboBox()
        self.role.setObjectName("role")
        self.role.addItem("K3s server (a new cluster)", SERVER)
        self.role.addItem("K3s agent (join a cluster)", AGENT)
        self.cluster = QComboBox()
        self.cluster.setObjectName("cluster_id")
        self.name = text_field("cluster_name", host.hostname.split(".")[0], host.hostname.split(".")[0])
        if not register:
            self.form.add("role", "Install", self.role)
            self.form.add("cluster_id", "Join cluster", self.cluster)
        self.form.add("name" if register else "cluster_name", "Cluster name", self.name)
        self.role.currentIndexChanged.connect(self._role_changed)
        self.buttons = Buttons(self, "Register" if register else "Provision")
        self.buttons.ok.clicked.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("This runs as a job over SSH; the Jobs view shows its output."))
        layout.addWidget(self.form)
        layout.addWidget(self.buttons)
        self._role_changed()
        if not register:
            run_op(
                self,
                lambda: self.engine.clusters.list_clusters(self.actor),
                on_success=self._clusters_loaded,
                key="provision.clusters",
                progress_text="Loading clusters…",
            )

    def _clusters_loaded(self, clusters: list[ClusterInfo]) -> None:
        self.cluster.clear()
        for cluster in clusters:
            self.cluster.addItem(cluster.name, cluster.id)

    def _role_changed(self, _index: int = 0) -> None:
        agent = self.role.currentData() == AGENT
        self.cluster.setEnabled(agent)
        self.name.setEnabled(not agent)

    def submit(self) -> None:
        self.form.clear_errors()
        host_id, name = self.host.id, self.name.text().strip()
        if self.register:

            async def call() -> object:
                return await self.service.register_cluster(self.actor, host_id, name)
        else:
            role, cluster_id = str(self.role.currentData()), self.cluster.currentData()

            async def call() -> object:
                if role == AGENT:
                    return await self.service.provision(
                        self.actor, host_id, role=AGENT, cluster_id=cluster_id
                    )
                return await self.service.provision(
                    self.actor, host_id, role=SERVER, cluster_name=name or None
                )

        self.buttons.set_busy(True)
        self.accept()  # the job runs on; its output is in the Jobs view
        run_op(
            self.view,
            call,
            on_success=self.on_started,
            key=f"hosts.provision.{host_id}",
            progress_text=f"{self.windowTitle()}…",
        )
