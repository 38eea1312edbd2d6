"""API / MCP tokens (``api_tokens``) and the audit log of API calls (``audit_log``).

A token is ``pwm_`` + 32 random bytes in URL-safe base64. Only its SHA-256 (hex)
is stored; the token itself is returned once, by :meth:`TokensService.create_token`
or :meth:`TokensService.reissue_token`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from podwarden.engine.errors import AuthenticationError, ValidationError
from podwarden.engine.models.access import ApiToken, AuditEntry, Role
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Service, get_or_404, now

TOKEN_PREFIX = "pwm_"  # noqa: S105  (a prefix, not a secret)
DEFAULT_EXPIRY_DAYS = 90
MAX_EXPIRY_DAYS = 365
MAX_AUDIT_LIMIT = 500
# last_used_at is written at most this often per token, so busy tokens cost no extra writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@ -]{0,63}$")


@dataclass(frozen=True)
class TokenInfo:
    id: uuid.UUID
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: str


@dataclass(frozen=True)
class IssuedToken:
    """A token as created: ``token`` is shown this once and never stored."""

    info: TokenInfo
    token: str


@dataclass(frozen=True)
class AuditInfo:
    id: int
    at: datetime
    token_id: uuid.UUID | None
    actor: str
    method: str
    path: str
    status_code: int
    duration_ms: float | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _info(t: ApiToken) -> TokenInfo:
    return TokenInfo(
        t.id, t.name, t.role, t.created_at, t.expires_at, t.revoked_at, t.last_used_at, t.created_by
    )


def _audit_info(a: AuditEntry) -> AuditInfo:
    return AuditInfo(a.id, a.at, a.token_id, a.actor, a.method, a.path, a.status_code, a.duration_ms)


def _expiry(days: int) -> datetime:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ValidationError(
            f"A token expires after 1 to {MAX_EXPIRY_DAYS} days (default {DEFAULT_EXPIRY_DAYS}).",
            {"expires_in_days": "must be 1–365"},
        )
    return now() + timedelta(days=days)


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise ValidationError(
            f"'{value}' is not a role; use viewer, operator or admin.", {"role": "unknown role"}
        ) from exc


class TokensService(Service):
    @operation(Permissions.TOKENS_MANAGE)
    async def create_token(
        self, actor: Actor, name: str, role: Role, *, expires_in_days: int = DEFAULT_EXPIRY_DAYS
    ) -> IssuedToken:
        """Create an API token; the returned token is shown once and only its hash is kept."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValidationError(
                "A token name starts with a letter or digit and uses letters, digits, spaces and . _ @ - "
                "(up to 64).",
                {"name": "invalid token name"},
            )
        role = _role(role)
        expires_at = _expiry(expires_in_days)
        token = new_token()
        async with self.db.unit_of_work() as uow:
            row = ApiToken(
                name=name,
                token_hash=hash_token(token),
                role=role,
                expires_at=expires_at,
                created_by=actor.label,
            )
            uow.session.add(row)
            await uow.flush()
            return IssuedToken(_info(row), token)

    @operation(Permissions.TOKENS_MANAGE, Access.READ)
    async def list_tokens(self, actor: Actor) -> list[TokenInfo]:
        """Every API token (never the token or its hash)."""
        async with self.db.session() as session:
            rows = (await session.execute(select(ApiToken).order_by(ApiToken.name))).scalars()
            return [_info(r) for r in rows]

    @operation(Permissions.TOKENS_MANAGE, Access.DESTRUCTIVE)
    async def revoke_token(self, actor: Actor, token_id: uuid.UUID) -> TokenInfo:
        """Revoke a token at once; revoking twice keeps the first time."""
        async with self.db.unit_of_work() as uow:
            row = await get_or_404(uow.session, ApiToken, token_id, "API token")
            if row.revoked_at is None:
                row.revoked_at = now()
            await uow.flush()
            return _info(row)

    @operation(Permissions.TOKENS_MANAGE)
    async def reissue_token(
        self, actor: Actor, token_id: uuid.UUID, *, expires_in_days: int = DEFAULT_EXPIRY_DAYS
    ) -> IssuedToken:
        """Give a token a new secret value and expiry (the old value stops working; un-revokes it)."""
        expires_at = _expiry(expires_in_days)
        token = new_token()
        async with self.db.unit_of_work() as uow:
            row = await get_or_404(uow.session, ApiToken, token_id, "API token")
            row.token_hash, row.expires_at, row.revoked_at = hash_token(token), expires_at, None
            await uow.flush()
            return IssuedToken(_info(row), token)

    async def authenticate_token(self, token: str) -> Actor:
        """The actor of a valid token; unknown, expired or revoked tokens raise AuthenticationError."""
        if not token.startswith(TOKEN_PREFIX):
            raise AuthenticationError("This is not a PodWarden API token.")
        digest = hash_token(token)
        moment = now()
        # A plain read (no transaction bookkeeping) on every call; a write only when
        # last_used_at is older than its resolution.
        columns = (ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.revoked_at, ApiToken.expires_at)
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(*columns, ApiToken.last_used_at).where(ApiToken.token_hash == digest)
                )
            ).one_or_none()
        if row is None:
            raise AuthenticationError("The API token is not known.")
        if row.revoked_at is not None:
            raise AuthenticationError(f"The API token {row.name} was revoked.")
        if row.expires_at <= moment:
            raise AuthenticationError(
                f"The API token {row.name} expired at {row.expires_at:%Y-%m-%d %H:%M} UTC."
            )
        if row.last_used_at is None or row.last_used_at < moment - LAST_USED_RESOLUTION:
            async with self.db.unit_of_work() as uow:
                await uow.session.execute(
                    update(ApiToken)
                    .where(
                        ApiToken.id == row.id,
                        or_(
                            ApiToken.last_used_at.is_(None),
                            ApiToken.last_used_at < moment - LAST_USED_RESOLUTION,
                        ),
                    )
                    .values(last_used_at=moment)
                    .execution_options(synchronize_session=False)
                )
        return Actor(kind="token", name=row.name, role=row.role, id=row.id)

    async def record_audit(
        self,
        actor: Actor,
        *,
        method: str,
        path: str,
        status_code: int,
        duration_ms: float | None = None,
        at: datetime | None = None,
    ) -> None:
        """Write one audit row for an authenticated API or MCP call (no role check: it is a record)."""
        token_id = actor.id if actor.kind == "token" else None
        async with self.db.unit_of_work() as uow:
            uow.session.add(
                AuditEntry(
                    at=at or now(),
                    token_id=token_id,
                    actor=actor.label[:128],
                    method=method[:16],
                    path=path[:512],
                    status_code=status_code,
                    duration_ms=duration_ms,
                )
            )

    @operation(Permissions.AUDIT_READ, Access.READ)
    async def list_audit(
        self,
        actor: Actor,
        *,
        token_id: uuid.UUID | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditInfo]:
        """Audit entries, newest first; filter by token and start time; at most 500."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_AUDIT_LIMIT:
            raise ValidationError(
                f"The audit listing limit is 1 to {MAX_AUDIT_LIMIT}.", {"limit": "must be 1–500"}
            )
        stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        if token_id is not None:
            stmt = stmt.where(AuditEntry.token_id == token_id)
        if since is not None:
            stmt = stmt.where(AuditEntry.at >= since)
        async with self.db.session() as session:
            return [_audit_info(a) for a in (await session.execute(stmt)).scalars()]
