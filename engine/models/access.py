"""Users, secrets, API tokens, audit log and configuration."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from podwarden.engine.models.base import Base, IdMixin, TimestampMixin, VersionedMixin
from podwarden.engine.models.fleet import pg_enum


class Role(enum.StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]


_ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class User(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A local (or OIDC-linked) user (seed: ``system_users``)."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(pg_enum(Role, "user_role"))
    password_hash: Mapped[str | None] = mapped_column(String(256))  # None: OIDC only
    oidc_subject: Mapped[str | None] = mapped_column(String(256), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]


class Secret(IdMixin, TimestampMixin, VersionedMixin, Base):
    """An encrypted value (seed: ``app_secrets``): AES-256-GCM, nonce ‖ ciphertext."""

    __tablename__ = "secrets"
    __notify__: ClassVar[bool] = True

    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="generic")  # ssh-key, kubeconfig, s3, …
    description: Mapped[str] = mapped_column(Text, default="")
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class SecretKeyCheck(Base):
    """Proof that the configured master key is the one the secrets were sealed with."""

    __tablename__ = "secret_key_check"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)
    __notify__: ClassVar[bool] = False

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    rotated_at: Mapped[datetime]


class ApiToken(IdMixin, TimestampMixin, Base):
    """An API / MCP token (seed: ``mcp_tokens``); only the SHA-256 of the token is kept."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(pg_enum(Role, "user_role"))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(128), default="")


class AuditEntry(Base):
    """One authenticated API or MCP call (seed: ``mcp_audit_log``)."""

    __tablename__ = "audit_log"
    __notify__: ClassVar[bool] = False

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    token_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(16))  # GET/POST/… or TOOL for MCP
    path: Mapped[str] = mapped_column(String(512))
    status_code: Mapped[int]
    duration_ms: Mapped[float | None]


class SystemConfig(VersionedMixin, Base):
    """The singleton configuration document: SMTP, OIDC, Hub, Tailscale, registry, MCP."""

    __tablename__ = "system_config"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class FleetSetting(Base):
    """A named fleet setting (seed: ``settings``): registry URL, default image tag, …"""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class SystemMessage(IdMixin, Base):
    """A finding of the consistency audit (cluster unreachable, orphaned host, …)."""

    __tablename__ = "system_messages"

    severity: Mapped[str] = mapped_column(String(16))  # info | warning | error | critical
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(256))
    message: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
