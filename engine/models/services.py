"""Storage, ingress, DDNS, backups and endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from podwarden.engine.models.base import Base, IdMixin, TimestampMixin, VersionedMixin


class StorageConnection(IdMixin, TimestampMixin, VersionedMixin, Base):
    """An NFS export or S3 bucket workloads and backups can use."""

    __tablename__ = "storage_connections"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # nfs | s3
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)  # server/path or endpoint/bucket/region
    credentials_secret: Mapped[str | None] = mapped_column(String(128))
    network_types: Mapped[list[str]] = mapped_column(default=list)
    backup_target: Mapped[bool] = mapped_column(Boolean, default=False)
    last_test_at: Mapped[datetime | None]
    last_test_result: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IngressRule(IdMixin, TimestampMixin, VersionedMixin, Base):
    """Domain → backend routing through a gateway host."""

    __tablename__ = "ingress_rules"
    __table_args__ = (UniqueConstraint("domain", "path"),)

    domain: Mapped[str] = mapped_column(String(253))
    path: Mapped[str] = mapped_column(String(512), default="/")
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clusters.id", ondelete="SET NULL"))
    gateway_host_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"))
    backend_type: Mapped[str] = mapped_column(String(16))  # deployment | endpoint
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deployments.id", ondelete="SET NULL"))
    backend_address: Mapped[str | None] = mapped_column(String(253))
    backend_port: Mapped[int | None] = mapped_column(Integer)
    tls: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(32), default="draft")
    health: Mapped[dict[str, Any]] = mapped_column(default=dict)  # dns/http/tls check results


class DdnsConfig(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "ddns_configs"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    provider: Mapped[str] = mapped_column(String(16))  # cloudflare | duckdns | webhook | hub
    domains: Mapped[list[str]] = mapped_column(default=list)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials_secret: Mapped[str | None] = mapped_column(String(128))
    gateway_host_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_ipv4: Mapped[str | None] = mapped_column(String(64))
    last_ipv6: Mapped[str | None] = mapped_column(String(64))
    last_update_at: Mapped[datetime | None]
    last_status: Mapped[str] = mapped_column(String(32), default="never")
    last_error: Mapped[str] = mapped_column(Text, default="")


class BackupPolicy(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "backup_policies"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deployments.id", ondelete="SET NULL"))
    storage_connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("storage_connections.id", ondelete="SET NULL")
    )
    schedule: Mapped[str] = mapped_column(String(64))  # cron
    mode: Mapped[str] = mapped_column(String(16), default="hot")  # hot | cold | postgres
    retention: Mapped[dict[str, Any]] = mapped_column(default=dict)  # daily/weekly/monthly
    repository_path: Mapped[str] = mapped_column(String(512))
    pre_backup_hook: Mapped[str] = mapped_column(Text, default="")
    password_secret: Mapped[str | None] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(32), default="draft")
    last_run_at: Mapped[datetime | None]


class BackupSnapshot(IdMixin, Base):
    __tablename__ = "backup_snapshots"
    __table_args__ = (UniqueConstraint("policy_id", "snapshot_id"),)

    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("backup_policies.id", ondelete="CASCADE"))
    snapshot_id: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[datetime]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_count: Mapped[int | None] = mapped_column(BigInteger)
    paths: Mapped[list[str]] = mapped_column(default=list)
    restore_status: Mapped[str | None] = mapped_column(String(32))
    restored_at: Mapped[datetime | None]


class Endpoint(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A generic service endpoint (managers, health checks, external backends)."""

    __tablename__ = "endpoints"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(1024))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_check_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(32))
