"""Local users, roles and sign-in (``users`` table)."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from podwarden.engine.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from podwarden.engine.models.access import Role, User
from podwarden.engine.security import passwords
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Service, check_version, get_or_404, now

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_FIRST_ADMIN_LOCK = 0x50570002


@dataclass(frozen=True)
class UserInfo:
    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    disabled: bool
    version: int
    last_login_at: datetime | None
    locked_until: datetime | None


def _info(u: User) -> UserInfo:
    return UserInfo(
        u.id, u.username, u.display_name, u.role, u.disabled, u.version, u.last_login_at, u.locked_until
    )


def _check_username(username: str) -> None:
    if not _USERNAME.match(username):
        raise ValidationError(
            "A username starts with a letter or digit and uses letters, digits and . _ @ - (up to 64).",
            {"username": "invalid username"},
        )


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise ValidationError(
            f"'{value}' is not a role; use viewer, operator or admin.", {"role": "unknown role"}
        ) from exc


class UsersService(Service):
    async def has_users(self) -> bool:
        async with self.db.session() as session:
            return bool((await session.execute(select(func.count()).select_from(User))).scalar_one())

    async def create_first_admin(self, username: str, password: str, display_name: str = "") -> UserInfo:
        """Create the first admin. Works only while there are no users at all."""
        _check_username(username)
        hashed = await asyncio.to_thread(passwords.hash_password, password)
        async with self.db.unit_of_work() as uow:
            await uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FIRST_ADMIN_LOCK})
            if (await uow.session.execute(select(func.count()).select_from(User))).scalar_one():
                raise ConflictError("PodWarden already has users; ask an admin to create your account.")
            user = User(username=username, display_name=display_name, role=Role.ADMIN, password_hash=hashed)
            uow.session.add(user)
            await uow.flush()
            return _info(user)

    @operation(Permissions.USERS_MANAGE)
    async def create_user(
        self, actor: Actor, username: str, password: str, role: Role | str, *, display_name: str = ""
    ) -> UserInfo:
        """Add a local user."""
        _check_username(username)
        role = _role(role)
        hashed = await asyncio.to_thread(passwords.hash_password, password)
        async with self.db.unit_of_work() as uow:
            user = User(username=username, display_name=display_name, role=role, password_hash=hashed)
            uow.session.add(user)
            await uow.flush()
            return _info(user)

    @operation(Permissions.READ, Access.READ)
    async def list_users(self, actor: Actor) -> list[UserInfo]:
        """Every user (no password data)."""
        async with self.db.session() as session:
            return [_info(u) for u in (await session.execute(select(User).order_by(User.username))).scalars()]

    @operation(Permissions.USERS_MANAGE)
    async def set_role(
        self, actor: Actor, user_id: uuid.UUID, role: Role | str, *, expected_version: int | None = None
    ) -> UserInfo:
        """Change a user's role. The last admin cannot be demoted."""
        role = _role(role)
        async with self.db.unit_of_work() as uow:
            user = await get_or_404(uow.session, User, user_id, "User")
            check_version(user, expected_version, "user")
            if user.role is Role.ADMIN and role is not Role.ADMIN:
                await self._keep_an_admin(uow.session, user, "demote")
            user.role = role
            await uow.flush()
            return _info(user)

    @operation(Permissions.USERS_MANAGE)
    async def reset_password(self, actor: Actor, user_id: uuid.UUID, password: str) -> None:
        """Set a new password for a user and lift any lockout."""
        hashed = await asyncio.to_thread(passwords.hash_password, password)
        async with self.db.unit_of_work() as uow:
            user = await get_or_404(uow.session, User, user_id, "User")
            user.password_hash, user.failed_logins, user.locked_until = hashed, 0, None

    @operation(Permissions.USERS_MANAGE, Access.DESTRUCTIVE)
    async def delete_user(self, actor: Actor, user_id: uuid.UUID) -> None:
        """Delete a user. The last admin cannot be deleted."""
        async with self.db.unit_of_work() as uow:
            user = await get_or_404(uow.session, User, user_id, "User")
            if user.role is Role.ADMIN:
                await self._keep_an_admin(uow.session, user, "delete")
            await uow.session.delete(user)

    @operation(Permissions.SELF)
    async def change_own_password(self, actor: Actor, old_password: str, new_password: str) -> None:
        """Change the signed-in user's password."""
        if actor.kind != "user" or actor.id is None:
            raise ValidationError("Only a signed-in user has a password to change.")
        async with self.db.unit_of_work() as uow:
            user = await get_or_404(uow.session, User, actor.id, "User")
            ok = user.password_hash is not None and await asyncio.to_thread(
                passwords.verify_password, user.password_hash, old_password
            )
            if not ok:
                raise AuthenticationError("The current password is wrong.")
            user.password_hash = await asyncio.to_thread(passwords.hash_password, new_password)

    async def authenticate(self, username: str, password: str) -> Actor:
        """Sign a local user in. Repeated failures lock the account for a while."""
        settings = self.ctx.settings
        async with self.db.unit_of_work() as uow:
            stmt = select(User).where(User.username == username).with_for_update()
            user = (await uow.session.execute(stmt)).scalar_one_or_none()
            if user is None or user.password_hash is None or user.disabled:
                await asyncio.to_thread(passwords.verify_password, passwords.dummy_hash(), password)
                failed = True
            else:
                if user.locked_until is not None and user.locked_until > now():
                    raise AuthenticationError(
                        f"Too many failed sign-ins; this account is locked until "
                        f"{user.locked_until:%H:%M:%S} UTC."
                    )
                failed = not await asyncio.to_thread(passwords.verify_password, user.password_hash, password)
                if failed:
                    user.failed_logins += 1
                    if user.failed_logins >= settings.login_max_failures:
                        user.locked_until = now() + timedelta(seconds=settings.login_lockout_seconds)
                        user.failed_logins = 0
                else:
                    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now()
                    if passwords.needs_rehash(user.password_hash):
                        user.password_hash = await asyncio.to_thread(passwords.hash_password, password)
                    return Actor(kind="user", name=user.username, role=user.role, id=user.id)
        # Commit the failure count first, then slow the caller down.
        await asyncio.sleep(settings.timeouts.login_failure_delay)
        raise AuthenticationError("The username or password is wrong.")

    async def actor_for(self, user_id: uuid.UUID) -> Actor:
        """The current actor for a user id (role changes apply at once)."""
        async with self.db.session() as session:
            user = await session.get(User, user_id)
            if user is None or user.disabled:
                raise NotFoundError("User", user_id)
            return Actor(kind="user", name=user.username, role=user.role, id=user.id)

    async def _keep_an_admin(self, session: AsyncSession, user: User, verb: str) -> None:
        # Lock every admin row so two concurrent demotions cannot both pass the check.
        admins = (
            await session.execute(
                select(User.id).where(User.role == Role.ADMIN, User.disabled.is_(False)).with_for_update()
            )
        ).all()
        if len(admins) <= 1:
            raise ConflictError(f"Cannot {verb} {user.username}: PodWarden needs at least one admin.")
