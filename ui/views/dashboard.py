"""Dashboard: what the engine can count today (users, jobs by state, recent and failed jobs).

Hosts, clusters, deployments and GPU capacity arrive with their services; their
sections are here already, marked as such.
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

from podwarden.engine.models.jobs import JobState
from podwarden.engine.services.jobs import MAX_PAGE, JobInfo
from podwarden.ui.context import UiContext
from podwarden.ui.models.jobs import JOB_COLUMNS, STATE_COLORS
from podwarden.ui.models.table import RowsModel
from podwarden.ui.ops import run_op
from podwarden.ui.views.base import View
from podwarden.ui.widgets.table import table_view

RECENT = 8
_SHORT_COLUMNS = [c for c in JOB_COLUMNS if c.title in ("Job", "State", "Created")]

FUTURE_SECTIONS = (
    ("Hosts by state", "arrives with hosts"),
    ("Clusters", "arrives with clusters"),
    ("Deployments by status", "arrives with deployments"),
    ("GPU capacity (count, VRAM)", "arrives with hosts/clusters"),
)


@dataclass(frozen=True)
class DashboardData:
    users: int
    jobs_by_state: dict[JobState, int]  # MAX_PAGE means "at least"
    recent: list[JobInfo]
    failed: list[JobInfo]


class JobListModel(RowsModel[uuid.UUID, JobInfo]):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(_SHORT_COLUMNS, lambda j: j.id, parent)


def _count_text(n: int) -> str:
    return f"{n}+" if n >= MAX_PAGE else str(n)


def _card(title: str) -> tuple[QGroupBox, QVBoxLayout]:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    return box, layout


def _job_table(model: JobListModel, name: str) -> QTableView:
    return table_view(model, name)


class DashboardView(View):
    watched = frozenset({"jobs", "users"})
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
        for title, note in FUTURE_SECTIONS:
            box, box_layout = _card(title)
            label = QLabel(f"— {note}")
            label.setStyleSheet("color: palette(mid);")
            box_layout.addWidget(label)
            future.addWidget(box)

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
        by_state = {s: len(await jobs.list_jobs(actor, state=s, limit=MAX_PAGE)) for s in JobState}
        recent = await jobs.list_jobs(actor, limit=RECENT)
        failed = await jobs.list_jobs(actor, state=JobState.FAILED, limit=RECENT)
        return DashboardData(users, by_state, recent, failed)

    def state_counts_text(self) -> dict[str, str]:
        return {state.value: label.text() for state, label in self.state_counts.items()}

    def _show(self, data: DashboardData) -> None:
        self.data = data
        self.users_count.setText(str(data.users))
        for state, label in self.state_counts.items():
            label.setText(_count_text(data.jobs_by_state.get(state, 0)))
        self.recent_model.replace(data.recent)
        self.failed_model.replace(data.failed)
