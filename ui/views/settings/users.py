"""Settings → Users: everyone sees the list; admins add, change roles, reset passwords, delete."""

from __future__ import annotations

import uuid

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from podwarden.engine.models.access import Role
from podwarden.engine.security.rbac import Permissions
from podwarden.engine.services.users import UserInfo
from podwarden.ui.context import UiContext
from podwarden.ui.dialogs.base import confirm
from podwarden.ui.dialogs.users import AddUserDialog, ResetPasswordDialog, role_combo
from podwarden.ui.models.access import UsersModel
from podwarden.ui.ops import run_op
from podwarden.ui.roles import allowed, guard, set_enabled
from podwarden.ui.views.settings.list_tab import ListTab


class UsersTab(ListTab[uuid.UUID, UserInfo]):
    watched = frozenset({"users"})

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, UsersModel(), "users", stretch=1, parent=parent)
        self.model.setParent(self)

        self.add_button = QPushButton("Add user…")
        self.add_button.setObjectName("add-user")
        self.role = role_combo("role")
        self.role_button = QPushButton("Change role")
        self.role_button.setObjectName("change-role")
        self.reset_button = QPushButton("Reset password…")
        self.reset_button.setObjectName("reset-password")
        self.delete_button = QPushButton("Delete user…")
        self.delete_button.setObjectName("delete-user")
        manage = Permissions.USERS_MANAGE
        guard(self.add_button, ctx.actor, manage, tooltip="Add a local user with a role")
        guard(self.role, ctx.actor, manage, tooltip="The role to give the selected user")
        guard(self.role_button, ctx.actor, manage, tooltip="Give the selected user this role")
        guard(self.reset_button, ctx.actor, manage, tooltip="Set a new password (lifts a lockout)")
        guard(self.delete_button, ctx.actor, manage, tooltip="Delete the selected user")
        self.add_button.clicked.connect(self.open_add_dialog)
        self.role_button.clicked.connect(self.change_role)
        self.reset_button.clicked.connect(self.open_reset_dialog)
        self.delete_button.clicked.connect(self.ask_delete)

        bar = QHBoxLayout()
        bar.addWidget(self.add_button)
        bar.addStretch(1)
        bar.addWidget(QLabel("Role"))
        bar.addWidget(self.role)
        bar.addWidget(self.role_button)
        bar.addWidget(self.reset_button)
        bar.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        if not allowed(self.add_button):
            hint = QLabel("Only admins can add or change users; you see the list read-only.")
            hint.setObjectName("read-only-hint")
            layout.addWidget(hint)
        layout.addLayout(bar)
        layout.addWidget(self.message)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)
        self._update_buttons()

    # -- data -------------------------------------------------------------------------------
    def reload(self) -> None:
        run_op(
            self,
            lambda: self.engine.users.list_users(self.actor),
            on_success=self.model.replace,
            key="settings.users.load",
            progress_text="Loading users…",
        )

    def select(self, username: str) -> bool:
        return self.select_where(lambda u: u.username == username)

    def _update_buttons(self) -> None:
        user = self.selected
        for button in (self.role_button, self.reset_button, self.delete_button, self.role):
            set_enabled(button, user is not None)
        if user is not None:
            self.role.setCurrentIndex(self.role.findData(user.role.value))

    # -- actions ----------------------------------------------------------------------------
    def open_add_dialog(self) -> None:
        dialog = AddUserDialog(self.engine, self.actor, self)
        self._open(dialog, dialog.created, lambda user: f"Added {user.username} ({user.role.value}).")

    def open_reset_dialog(self) -> None:
        user = self.selected
        if user is None:
            return
        dialog = ResetPasswordDialog(self.engine, self.actor, user, self)
        self._open(dialog, dialog.password_set, lambda: f"Set a new password for {user.username}.")

    def change_role(self) -> None:
        user = self.selected
        if user is None:
            return
        role = Role(str(self.role.currentData()))
        if role is user.role:
            self._say("", f"{user.username} already has the {role.value} role.")
            return
        run_op(
            self,
            lambda: self.engine.users.set_role(self.actor, user.id, role, expected_version=user.version),
            on_success=lambda info: self._done(f"{info.username} is now {info.role.value}."),
            on_failure=self._failed,
            key="settings.users.role",
            progress_text=f"Changing the role of {user.username}…",
        )

    def ask_delete(self) -> None:
        user = self.selected
        if user is None:
            return
        self.dialog = confirm(
            self,
            "Delete user",
            f"Delete the user “{user.username}”? They can no longer sign in; their past jobs stay.",
            lambda: self.delete(user),
        )

    def delete(self, user: UserInfo) -> None:
        run_op(
            self,
            lambda: self.engine.users.delete_user(self.actor, user.id),
            on_success=lambda _r: self._done(f"Deleted {user.username}."),
            on_failure=self._failed,
            key="settings.users.delete",
            progress_text=f"Deleting {user.username}…",
        )
