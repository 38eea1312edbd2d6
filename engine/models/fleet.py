"""Machines and clusters: ``hosts`` and ``clusters``."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Computed, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from podwarden.engine.models.base import Base, IdMixin, TimestampMixin, VersionedMixin


def pg_enum(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A PostgreSQL enum stored by *value* (lower-case text), named explicitly."""
    return Enum(enum_cls, name=name, values_callable=lambda e: [m.value for m in e])


class HostState(enum.StrEnum):
    DISCOVERED = "discovered"
    PROVISIONED = "provisioned"
    IN_CLUSTER = "in_cluster"
    MISSING = "missing"
    ERROR = "error"


class HostSource(enum.StrEnum):
    TAILSCALE = "tailscale"
    MANUAL = "manual"


#: ``hosts.search_text``: what the hosts list's text filter searches, lower-cased, the
#: fields joined by U+001F (a character no name or address holds), the addresses as
#: their JSON text. A trigram GIN index on it (pg_trgm) serves ``LIKE '%…%'``; migration
#: 0002 writes the same expression (keep the two equal).
HOST_SEARCH_TEXT = (
    "lower(((((((hostname)::text || chr(31)) || COALESCE(tailscale_name, ''::character varying)::text) "
    "|| chr(31)) || COALESCE(ssh_address, ''::character varying)::text) || chr(31)) || (addresses)::text)"
)


class Host(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "hosts"
    __table_args__ = (
        Index(
            "ix_hosts_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    hostname: Mapped[str] = mapped_column(String(253), index=True)
    source: Mapped[HostSource] = mapped_column(pg_enum(HostSource, "host_source"))
    state: Mapped[HostState] = mapped_column(pg_enum(HostState, "host_state"), index=True)
    # Tailscale identity (unique when present); manual hosts have none.
    tailscale_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    tailscale_name: Mapped[str | None] = mapped_column(String(253))
    tailscale_tags: Mapped[list[str]] = mapped_column(default=list)
    tailscale_last_seen: Mapped[datetime | None]
    addresses: Mapped[list[str]] = mapped_column(default=list)
    os: Mapped[str | None] = mapped_column(String(128))
    # How PodWarden reaches it over SSH.
    ssh_address: Mapped[str | None] = mapped_column(String(253))
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_user: Mapped[str] = mapped_column(String(64), default="root")
    ssh_key_secret: Mapped[str | None] = mapped_column(String(128))  # name in secrets; None = ssh-agent
    ssh_known_hosts: Mapped[str | None] = mapped_column(Text)  # pinned host keys (known_hosts lines)
    ssh_host_key_pending: Mapped[str | None] = mapped_column(Text)  # a changed key awaiting an admin
    # Hardware, from the last probe.
    cpu_model: Mapped[str | None] = mapped_column(String(256))
    cpu_cores: Mapped[int | None]
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    disk_bytes: Mapped[int | None] = mapped_column(BigInteger)
    gpu_model: Mapped[str | None] = mapped_column(String(256))
    gpu_count: Mapped[int] = mapped_column(Integer, default=0)
    gpu_vram_mb: Mapped[int | None]
    network_types: Mapped[list[str]] = mapped_column(default=list)
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # full probe document
    last_probe_at: Mapped[datetime | None]
    kubernetes_detected: Mapped[bool] = mapped_column(Boolean, default=False)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    is_gateway: Mapped[bool] = mapped_column(Boolean, default=False)
    public_ip: Mapped[str | None] = mapped_column(String(64))
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL"), index=True
    )
    cluster_role: Mapped[str | None] = mapped_column(String(16))  # server | agent
    notes: Mapped[str] = mapped_column(Text, default="")
    search_text: Mapped[str | None] = mapped_column(Text, Computed(HOST_SEARCH_TEXT, persisted=True))


class Cluster(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "clusters"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kubeconfig_secret: Mapped[str | None] = mapped_column(String(128))  # name in secrets
    api_server: Mapped[str | None] = mapped_column(String(512))
    context: Mapped[str | None] = mapped_column(String(253))
    control_plane_host_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="SET NULL", use_alter=True)
    )
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    kubernetes_version: Mapped[str | None] = mapped_column(String(64))
    last_seen_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(32), default="unknown")
