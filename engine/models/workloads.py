"""Stacks (workload templates), deployments and their revision history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from podwarden.engine.models.base import Base, IdMixin, TimestampMixin, VersionedMixin


class Stack(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A reusable workload template (seed: ``workload_definitions``).

    ``spec`` is the validated stack document (podwarden.engine.schemas.stacks);
    the columns beside it are what lists filter and sort on.
    """

    __tablename__ = "stacks"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    image: Mapped[str] = mapped_column(String(512))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    template_version: Mapped[str] = mapped_column(String(32), default="1")
    hub_template_id: Mapped[str | None] = mapped_column(String(128))
    tags: Mapped[list[str]] = mapped_column(default=list)


class Deployment(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A stack placed on a cluster (seed: ``workload_assignments``)."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("cluster_id", "namespace", "name"),)

    name: Mapped[str] = mapped_column(String(63))
    stack_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("stacks.id", ondelete="SET NULL"), index=True
    )
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL"), index=True
    )
    namespace: Mapped[str] = mapped_column(String(63))
    replicas: Mapped[int] = mapped_column(Integer, default=1)
    env_values: Mapped[dict[str, Any]] = mapped_column(default=dict)  # plain values
    secret_env_secret: Mapped[str | None] = mapped_column(String(128))  # secret holding generated/secret env
    config_values: Mapped[dict[str, Any]] = mapped_column(default=dict)  # slot name -> file content
    placement: Mapped[dict[str, Any]] = mapped_column(default=dict)  # node_selector | pinned host
    # Extra Service names (compose aliases) pointing at the workload; until 0002 kept in placement.
    service_aliases: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(32), default="draft", index=True)
    status_message: Mapped[str] = mapped_column(Text, default="")
    current_revision: Mapped[int | None]
    deployed_at: Mapped[datetime | None]


class DeploymentRevision(IdMixin, Base):
    """One deploy of a deployment, kept for history and rollback (seed: ``deployments``)."""

    __tablename__ = "deployment_revisions"
    __table_args__ = (UniqueConstraint("deployment_id", "revision"),)

    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    revision: Mapped[int]
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # stack spec + values, secrets excluded
    manifests: Mapped[list[Any]] = mapped_column(default=list)
    result: Mapped[str] = mapped_column(String(16), default="pending")  # pending|succeeded|failed
    reason: Mapped[str] = mapped_column(Text, default="")
    rollback_of: Mapped[int | None]
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime]
