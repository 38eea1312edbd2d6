"""The jobs table: ids newest first, pages from engine.jobs.list_jobs (filtered by state in SQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from PySide6.QtCore import QObject

from podwarden.engine import Actor, Engine
from podwarden.engine.errors import NotFoundError
from podwarden.engine.models.jobs import JobState
from podwarden.engine.services.jobs import JobInfo
from podwarden.ui.format import duration, when
from podwarden.ui.models.table import Column, PagedRowsModel

STATE_COLORS = {
    JobState.QUEUED: "#5e5c64",
    JobState.RUNNING: "#1a5fb4",
    JobState.SUCCEEDED: "#26a269",
    JobState.FAILED: "#c01c28",
    JobState.CANCELLED: "#986a44",
    JobState.INTERRUPTED: "#c64600",
}


def _title(job: JobInfo) -> str:
    return job.title or job.kind


def _tooltip(job: JobInfo) -> str:
    return f"{_title(job)}\n{job.error}" if job.error else _title(job)


def _duration(job: JobInfo) -> str:
    return duration(job.started_at, job.finished_at, now=datetime.now(UTC))


JOB_COLUMNS: list[Column[JobInfo]] = [
    Column("Job", _title, tooltip=_tooltip),
    Column(
        "State",
        lambda j: j.state.value,
        tooltip=_tooltip,
        color=lambda j: STATE_COLORS.get(j.state),
        width=11,
    ),
    Column("Kind", lambda j: j.kind, width=16),
    Column("Started by", lambda j: j.actor, width=14),
    Column("Created", lambda j: when(j.created_at), width=19),
    Column("Duration", _duration, align_right=True, width=9),
]


class JobsModel(PagedRowsModel[uuid.UUID, JobInfo]):
    def __init__(
        self,
        engine: Engine,
        actor: Actor,
        *,
        state: JobState | None = None,
        page_size: int = 100,
        parent: QObject | None = None,
    ) -> None:
        self.engine = engine
        self.actor = actor
        self.state = state
        super().__init__(
            JOB_COLUMNS,
            lambda job: job.id,
            load_page=self._load_page,
            load_one=self._load_one,
            matches=lambda job: self.state is None or job.state is self.state,
            page_size=page_size,
            name="jobs",
            parent=parent,
        )

    def set_state_filter(self, state: JobState | None) -> None:
        self.state = state
        self.reload(from_start=True)

    async def _load_page(self, offset: int, limit: int) -> list[JobInfo]:
        return await self.engine.jobs.list_jobs(self.actor, state=self.state, limit=limit, offset=offset)

    async def _load_one(self, job_id: uuid.UUID) -> JobInfo | None:
        try:
            return await self.engine.jobs.get_job(self.actor, job_id)
        except NotFoundError:
            return None
