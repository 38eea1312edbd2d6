"""Users, roles, sign-in and lockout."""

from __future__ import annotations

import asyncio

import pytest

from podwarden.engine import Engine, Settings
from podwarden.engine.errors import (
    AuthenticationError,
    ConflictError,
    PermissionDenied,
    ValidationError,
)
from podwarden.engine.models.access import Role
from podwarden.engine.security.rbac import Actor


async def test_first_admin_only_once(engine: Engine) -> None:
    assert not await engine.users.has_users()
    results = await asyncio.gather(
        engine.users.create_first_admin("alice", "correct horse"),
        engine.users.create_first_admin("bob", "correct horse"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "UserInfo"]
    assert await engine.users.has_users()


async def test_sign_in_and_actor(engine: Engine) -> None:
    await engine.users.create_first_admin("alice", "correct horse")
    actor = await engine.users.authenticate("alice", "correct horse")
    assert (actor.kind, actor.name, actor.role) == ("user", "alice", Role.ADMIN)
    with pytest.raises(AuthenticationError, match="username or password is wrong"):
        await engine.users.authenticate("alice", "wrong password")
    with pytest.raises(AuthenticationError, match="username or password is wrong"):
        await engine.users.authenticate("nobody", "wrong password")


async def test_lockout_after_repeated_failures(settings: Settings) -> None:
    fast = settings.model_copy(
        update={"login_max_failures": 3, "login_lockout_seconds": 60.0,
                "timeouts": settings.timeouts.model_copy(update={"login_failure_delay": 0.0})}
    )  # fmt: skip
    async with Engine(fast) as engine:
        await engine.users.create_first_admin("alice", "correct horse")
        for _ in range(3):
            with pytest.raises(AuthenticationError):
                await engine.users.authenticate("alice", "nope-nope")
        with pytest.raises(AuthenticationError, match="locked until"):
            await engine.users.authenticate("alice", "correct horse")  # even the right password
        admin = Actor.system()
        (user,) = await engine.users.list_users(admin)
        await engine.users.reset_password(admin, user.id, "brand new pass")
        assert (await engine.users.authenticate("alice", "brand new pass")).name == "alice"


async def test_last_admin_cannot_be_deleted_or_demoted(engine: Engine, admin: Actor) -> None:
    first = await engine.users.create_first_admin("alice", "correct horse")
    with pytest.raises(ConflictError, match="at least one admin"):
        await engine.users.delete_user(admin, first.id)
    with pytest.raises(ConflictError, match="at least one admin"):
        await engine.users.set_role(admin, first.id, Role.VIEWER)
    second = await engine.users.create_user(admin, "bob", "password123", "admin")
    demoted = await engine.users.set_role(admin, first.id, "operator", expected_version=first.version)
    assert demoted.role is Role.OPERATOR
    with pytest.raises(ConflictError, match="at least one admin"):
        await engine.users.delete_user(admin, second.id)


async def test_concurrent_demotions_keep_one_admin(engine: Engine, admin: Actor) -> None:
    a = await engine.users.create_first_admin("alice", "correct horse")
    b = await engine.users.create_user(admin, "bob", "password123", Role.ADMIN)
    results = await asyncio.gather(
        engine.users.set_role(admin, a.id, Role.VIEWER),
        engine.users.set_role(admin, b.id, Role.VIEWER),
        return_exceptions=True,
    )
    assert sum(isinstance(r, ConflictError) for r in results) == 1
    assert [u.role for u in await engine.users.list_users(admin)].count(Role.ADMIN) == 1


async def test_bad_input(engine: Engine, admin: Actor) -> None:
    with pytest.raises(ValidationError, match="at least 8"):
        await engine.users.create_user(admin, "bob", "short", Role.VIEWER)
    with pytest.raises(ValidationError, match="not a role"):
        await engine.users.create_user(admin, "bob", "long enough", "superuser")
    with pytest.raises(ValidationError):
        await engine.users.create_user(admin, "bad name!", "long enough", Role.VIEWER)
    await engine.users.create_user(admin, "bob", "long enough", Role.VIEWER)
    with pytest.raises(ConflictError, match="already taken"):
        await engine.users.create_user(admin, "bob", "long enough", Role.VIEWER)


async def test_change_own_password(engine: Engine) -> None:
    await engine.users.create_first_admin("alice", "correct horse")
    me = await engine.users.authenticate("alice", "correct horse")
    with pytest.raises(AuthenticationError):
        await engine.users.change_own_password(me, "wrong", "another one")
    await engine.users.change_own_password(me, "correct horse", "another one")
    assert (await engine.users.authenticate("alice", "another one")).name == "alice"


async def test_viewer_cannot_manage_users(engine: Engine, viewer: Actor, operator: Actor) -> None:
    for actor in (viewer, operator):
        with pytest.raises(PermissionDenied, match="needs admin"):
            await engine.users.create_user(actor, "mallory", "long enough", Role.ADMIN)
