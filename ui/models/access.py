"""Users and secrets tables (small lists: loaded whole, refreshed in place)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from PySide6.QtCore import QObject

from podwarden.engine.services.secrets import SecretInfo
from podwarden.engine.services.users import UserInfo
from podwarden.ui.format import when
from podwarden.ui.models.table import Column, RowsModel


def user_status(user: UserInfo) -> str:
    if user.disabled:
        return "disabled"
    if user.locked_until is not None and user.locked_until > datetime.now(UTC):
        return f"locked until {user.locked_until.astimezone():%H:%M}"
    return "active"


USER_COLUMNS: list[Column[UserInfo]] = [
    Column("Username", lambda u: u.username, width=16),
    Column("Name", lambda u: u.display_name),
    Column("Role", lambda u: u.role.value, width=10),
    Column("Status", user_status, width=16),
    Column("Last sign-in", lambda u: when(u.last_login_at), width=19),
]

SECRET_COLUMNS: list[Column[SecretInfo]] = [
    Column("Name", lambda s: s.name, width=24),
    Column("Kind", lambda s: s.kind, width=12),
    Column("Description", lambda s: s.description, tooltip=lambda s: s.description),
    Column("Updated", lambda s: when(s.updated_at), width=19),
]


class UsersModel(RowsModel[uuid.UUID, UserInfo]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(USER_COLUMNS, lambda u: u.id, parent)


class SecretsModel(RowsModel[uuid.UUID, SecretInfo]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(SECRET_COLUMNS, lambda s: s.id, parent)
