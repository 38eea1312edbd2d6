"""Dashboard: users, hosts by state, clusters, deployments by status, GPU capacity,
jobs by state, recent and failed jobs. Every count is one GROUP BY in the engine.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from podwarden.engine import Actor, Engine
from podwarden.engine.models.fleet import HostState
from podwarden.engine.models.jobs import JobState
from podwarden.engine.services.hosts import GpuCapacity
from podwarden.engine.services.jobs import JobInfo
from podwarden.ui.context import UiContext
from podwarden.ui.models.hosts import STATE_COLORS as HOST_STATE_COLORS
from podwarden.ui.models.jobs import JOB_COLUMNS, STATE_COLORS
from podwarden.ui.models.table import RowsModel
from podwarden.ui.ops import run_op
from podwarden.ui.views.base import View
from podwarden.ui.widgets.table import table_view

RECENT = 8
_SHORT_COLUMNS = [c for c in JOB_COLUMNS if c.title in ("Job", "State", "Created")]

#: Deployment statuses in the order the dashboard lists them (others follow).
DEPLOYMENT_STATUSES = ("deployed", "deploying", "failed", "draft", "undeployed")


@dataclass(frozen=True)
class FleetData:
    hosts_by_state: dict[HostState, int]
    deployments_by_status: dict[str, int]
    clusters: int
    clusters_reachable: int
    clusters_protected: int
    gpu: GpuCapacity


async def load_fleet(engine: Engine, actor: Actor) -> FleetData:
    """Hosts by state, deployments by status, clusters and GPU capacity (aggregates in SQL)."""
    by_state = await engine.hosts.count_by_state(actor)
    deployments = await engine.deployments.count_by_status(actor)
    clusters = await engine.clusters.list_clusters(actor)
    gpu = await engine.hosts.gpu_capacity(actor)
    return FleetData(
        by_state,
        deployments,
        len(clusters),
        sum(1 for c in clusters if c.status == "reachable"),
        sum(1 for c in clusters if c.protected),
        gpu,
    )


@dataclass(frozen=True)
class DashboardData:
    users: int
    jobs_by_state: dict[JobState, int]
    recent: list[JobInfo]
    failed: list[JobInfo]
    fleet: FleetData | None = None


class JobListModel(RowsModel[uuid.UUID, JobInfo]):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(_SHORT_COLUMNS, lambda j: j.id, parent)


def _card(title: str) -> tuple[QGroupBox, QVBoxLayout]:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    return box, layout


def _job_table(model: JobListModel, name: str) -> QTableView:
    return table_view(model, name)


class DashboardView(View):
    watched = frozenset({"jobs", "users", "hosts", "clusters", "deployments"})
    reload_delay_ms = 1000  # a running job announces every output line

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setObjectName("page-dashboard")
        self.data: DashboardData | None = None

        self.users_count = QLabel("–")
        self.users_count.setObjectName("users-count")
        self.users_count.setStyleSheet("font-size: 28px; font-weight: bold;")
        users_box, users_layout = _card("Users")
        users_layout.addWidget(self.users_count)
        users_layout.addStretch(1)

        self.state_counts: dict[JobState, QLabel] = {}
        jobs_box = QGroupBox("Jobs by state")
        grid = QGridLayout(jobs_box)
        for i, state in enumerate(JobState):
            number = QLabel("–")
            number.setObjectName(f"jobs-{state.value}")
            number.setStyleSheet(f"font-size: 22px; font-weight: bold; color: {STATE_COLORS[state]};")
            grid.addWidget(number, 0, i)
            grid.addWidget(QLabel(state.value), 1, i)
            self.state_counts[state] = number

        self.recent_model = JobListModel(self)
        self.failed_model = JobListModel(self)
        recent_box, recent_layout = _card("Recent jobs")
        recent_layout.addWidget(_job_table(self.recent_model, "recent-jobs"))
        failed_box, failed_layout = _card("Failed jobs")
        failed_layout.addWidget(_job_table(self.failed_model, "failed-jobs"))

        future = QHBoxLayout()
        self.host_counts: dict[HostState, QLabel] = {}
        hosts_box = QGroupBox("Hosts by state")
        hosts_grid = QGridLayout(hosts_box)
        for i, host_state in enumerate(HostState):
            number = QLabel("–")
            number.setObjectName(f"hosts-{host_state.value}")
            number.setStyleSheet(
                f"font-size: 22px; font-weight: bold; color: {HOST_STATE_COLORS[host_state]};"
            )
            hosts_grid.addWidget(number, 0, i)
            hosts_grid.addWidget(QLabel(host_state.value.replace("_", " ")), 1, i)
            self.host_counts[host_state] = number
        future.addWidget(hosts_box, 3)
        self.clusters_count = QLabel("–")
        self.clusters_count.setObjectName("clusters-count")
        self.clusters_count.setStyleSheet("font-size: 22px; font-weight: bold;")
        self.clusters_note = QLabel()
        self.clusters_note.setObjectName("clusters-note")
        clusters_box, clusters_layout = _card("Clusters")
        clusters_layout.addWidget(self.clusters_count)
        clusters_layout.addWidget(self.clusters_note)
        future.addWidget(clusters_box)
        self.gpu_count = QLabel("–")
        self.gpu_count.setObjectName("gpu-count")
        self.gpu_count.setStyleSheet("font-size: 22px; font-weight: bold;")
        self.gpu_note = QLabel()
        self.gpu_note.setObjectName("gpu-note")
        gpu_box, gpu_layout = _card("GPU capacity")
        gpu_layout.addWidget(self.gpu_count)
        gpu_layout.addWidget(self.gpu_note)
        future.addWidget(gpu_box)
        self.deployments_count = QLabel("–")
        self.deployments_count.setObjectName("deployments-count")
        self.deployments_count.setStyleSheet("font-size: 22px; font-weight: bold;")
        self.deployments_note = QLabel()
        self.deployments_note.setObjectName("deployments-note")
        deployments_box, deployments_layout = _card("Deployments by status")
        deployments_layout.addWidget(self.deployments_count)
        deployments_layout.addWidget(self.deployments_note)
        future.addWidget(deployments_box)

        top = QHBoxLayout()
        top.addWidget(users_box)
        top.addWidget(jobs_box, 3)
        lists = QHBoxLayout()
        lists.addWidget(recent_box)
        lists.addWidget(failed_box)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(future)
        layout.addLayout(lists, 1)

    def reload(self) -> None:
        run_op(
            self,
            self._load,
            on_success=self._show,
            key="dashboard.load",
            progress_text="Loading the dashboard…",
        )

    async def _load(self) -> DashboardData:
        jobs, actor = self.engine.jobs, self.actor
        users = len(await self.engine.users.list_users(actor))
        by_state = await jobs.count_by_state(actor)
        recent = await jobs.list_jobs(actor, limit=RECENT)
        failed = await jobs.list_jobs(actor, state=JobState.FAILED, limit=RECENT)
        fleet = await load_fleet(self.engine, actor)
        return DashboardData(users, by_state, recent, failed, fleet)

    def state_counts_text(self) -> dict[str, str]:
        return {state.value: label.text() for state, label in self.state_counts.items()}

    def _show(self, data: DashboardData) -> None:
        self.data = data
        self.users_count.setText(str(data.users))
        for state, label in self.state_counts.items():
            label.setText(str(data.jobs_by_state.get(state, 0)))
        if data.fleet is not None:
            self._show_fleet(data.fleet)
        self.recent_model.replace(data.recent)
        self.failed_model.replace(data.failed)

    def host_counts_text(self) -> dict[str, str]:
        return {state.value: label.text() for state, label in self.host_counts.items()}

    def _show_fleet(self, fleet: FleetData) -> None:
        for host_state, label in self.host_counts.items():
            label.setText(str(fleet.hosts_by_state.get(host_state, 0)))
        self.clusters_count.setText(str(fleet.clusters))
        self._show_deployments(fleet.deployments_by_status)
        self.clusters_note.setText(
            f"{fleet.clusters_reachable} reachable at last look · {fleet.clusters_protected} protected"
        )
        self.gpu_count.setText(f"{fleet.gpu.gpus} GPUs")
        vram = f"{fleet.gpu.vram_mb / 1024:.0f} GiB VRAM" if fleet.gpu.vram_mb else "VRAM unknown"
        self.gpu_note.setText(f"on {fleet.gpu.hosts} hosts · {vram}")

    def _show_deployments(self, by_status: dict[str, int]) -> None:
        self.deployments_count.setText(str(sum(by_status.values())))
        order = [s for s in DEPLOYMENT_STATUSES if by_status.get(s)]
        order += sorted(s for s in by_status if s not in DEPLOYMENT_STATUSES and by_status[s])
        text = " · ".join(f"{by_status[s]} {s}" for s in order)
        self.deployments_note.setText(text or "none yet")
