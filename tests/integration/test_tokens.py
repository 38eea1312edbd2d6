"""API tokens and the audit log on a real PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from podwarden.engine import Engine
from podwarden.engine.errors import AuthenticationError, NotFoundError, PermissionDenied, ValidationError
from podwarden.engine.models.access import ApiToken, Role
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.base import now
from podwarden.engine.services.tokens import TokensService


@pytest.fixture
def tokens(engine: Engine) -> TokensService:
    return TokensService(engine.context)


async def test_create_stores_only_the_hash_and_authenticates(
    engine: Engine, tokens: TokensService, admin: Actor
) -> None:
    issued = await tokens.create_token(admin, "ci", Role.OPERATOR)
    assert issued.token.startswith("pwm_")
    raw = base64.urlsafe_b64decode(issued.token[4:] + "=")
    assert len(raw) == 32
    async with engine.context.db.session() as session:
        row = (await session.execute(select(ApiToken))).scalar_one()
    assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in repr(await tokens.list_tokens(admin))
    delta = issued.info.expires_at - now()
    assert timedelta(days=89, hours=23) < delta <= timedelta(days=90)
    actor = await tokens.authenticate_token(issued.token)
    assert (actor.kind, actor.name, actor.role, actor.id) == ("token", "ci", Role.OPERATOR, issued.info.id)
    [listed] = await tokens.list_tokens(admin)
    assert listed.last_used_at is not None
    assert listed.created_by == admin.label


async def test_expiry_bounds(tokens: TokensService, admin: Actor) -> None:
    for days in (0, 366, -1):
        with pytest.raises(ValidationError):
            await tokens.create_token(admin, f"t{days}", Role.VIEWER, expires_in_days=days)
    one = await tokens.create_token(admin, "short", Role.VIEWER, expires_in_days=1)
    year = await tokens.create_token(admin, "long", Role.VIEWER, expires_in_days=365)
    assert one.info.expires_at < year.info.expires_at


async def test_unknown_revoked_and_expired_tokens_are_rejected(
    engine: Engine, tokens: TokensService, admin: Actor
) -> None:
    with pytest.raises(AuthenticationError):
        await tokens.authenticate_token("pwm_" + "A" * 43)
    with pytest.raises(AuthenticationError):
        await tokens.authenticate_token("not-a-token")
    revoked = await tokens.create_token(admin, "revoked", Role.ADMIN)
    await tokens.revoke_token(admin, revoked.info.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        await tokens.authenticate_token(revoked.token)
    expired = await tokens.create_token(admin, "expired", Role.ADMIN)
    async with engine.context.db.unit_of_work() as uow:
        await uow.session.execute(
            update(ApiToken)
            .where(ApiToken.id == expired.info.id)
            .values(expires_at=now() - timedelta(seconds=1))
        )
    with pytest.raises(AuthenticationError, match="expired"):
        await tokens.authenticate_token(expired.token)


async def test_reissue_replaces_the_value(tokens: TokensService, admin: Actor) -> None:
    first = await tokens.create_token(admin, "rotating", Role.VIEWER)
    await tokens.revoke_token(admin, first.info.id)
    second = await tokens.reissue_token(admin, first.info.id, expires_in_days=7)
    assert second.token != first.token
    assert second.info.revoked_at is None
    with pytest.raises(AuthenticationError):
        await tokens.authenticate_token(first.token)
    assert (await tokens.authenticate_token(second.token)).name == "rotating"


async def test_duplicate_name_and_missing_token(tokens: TokensService, admin: Actor) -> None:
    from podwarden.engine.errors import ConflictError

    await tokens.create_token(admin, "same", Role.VIEWER)
    with pytest.raises(ConflictError):
        await tokens.create_token(admin, "same", Role.VIEWER)
    with pytest.raises(ValidationError):
        await tokens.create_token(admin, "", Role.VIEWER)
    import uuid

    with pytest.raises(NotFoundError):
        await tokens.revoke_token(admin, uuid.uuid4())


async def test_roles(tokens: TokensService, operator: Actor, viewer: Actor) -> None:
    with pytest.raises(PermissionDenied):
        await tokens.create_token(operator, "x", Role.VIEWER)
    with pytest.raises(PermissionDenied):
        await tokens.list_audit(viewer)


async def test_audit_filters_and_limit(tokens: TokensService, admin: Actor) -> None:
    issued = await tokens.create_token(admin, "audited", Role.VIEWER)
    actor = await tokens.authenticate_token(issued.token)
    start = now()
    for i in range(3):
        await tokens.record_audit(
            actor, method="GET", path=f"/api/v1/x/{i}", status_code=200, duration_ms=1.5
        )
    await tokens.record_audit(admin, method="TOOL", path="/mcp/tool/hosts.list_hosts", status_code=200)
    everything = await tokens.list_audit(admin)
    assert len(everything) == 4
    assert everything[0].method == "TOOL"
    assert everything[0].token_id is None
    mine = await tokens.list_audit(admin, token_id=issued.info.id)
    assert [a.path for a in mine] == [f"/api/v1/x/{i}" for i in (2, 1, 0)]
    assert all(a.actor == "token:audited" for a in mine)
    assert len(await tokens.list_audit(admin, since=start, limit=2)) == 2
    assert await tokens.list_audit(admin, since=now() + timedelta(minutes=1)) == []
    for bad in (0, 501):
        with pytest.raises(ValidationError):
            await tokens.list_audit(admin, limit=bad)
