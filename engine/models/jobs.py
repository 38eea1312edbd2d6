"""Long-running work (provisioning, deploys, backups): ``jobs``."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from podwarden.engine.models.base import Base, IdMixin, TimestampMixin
from podwarden.engine.models.fleet import pg_enum


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # left running by an engine that died

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


class Job(IdMixin, TimestampMixin, Base):
    """A job record (seed: ``provisioning_jobs``). Output is appended as it arrives."""

    __tablename__ = "jobs"

    kind: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(256), default="")
    state: Mapped[JobState] = mapped_column(pg_enum(JobState, "job_state"), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(32))  # host | cluster | deployment | …
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(128))  # "user:alice", "token:ci", "system"
    engine_id: Mapped[uuid.UUID | None]  # the engine running it, for recovery
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
