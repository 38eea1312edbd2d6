"""Add a user; reset a user's password (admins)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDialog, QLabel, QVBoxLayout, QWidget

from podwarden.engine import Actor, Engine
from podwarden.engine.models.access import Role
from podwarden.engine.services.users import UserInfo
from podwarden.ui.dialogs.common import Buttons, clear_secret_fields, password_field, text_field
from podwarden.ui.ops import run_op
from podwarden.ui.widgets.form import Form


def role_combo(name: str = "role", current: Role = Role.VIEWER) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    for role in Role:
        combo.addItem(role.value, role.value)
    combo.setCurrentIndex(combo.findData(current.value))
    return combo


class AddUserDialog(QDialog):
    created = Signal(object)  # UserInfo

    def __init__(self, engine: Engine, actor: Actor, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("add-user")
        self.setWindowTitle("Add user")
        self.engine, self.actor = engine, actor
        self.form = Form()
        self.username = text_field("username")
        self.display_name = text_field("display_name", "optional")
        self.role = role_combo()
        self.password = password_field("password", "at least 8 characters")
        self.confirm = password_field("confirm")
        self.form.add("username", "Username", self.username)
        self.form.add("display_name", "Name", self.display_name)
        self.form.add(
            "role", "Role", self.role, hint="viewer: read only · operator: run the fleet · admin: all"
        )
        self.form.add("password", "Password", self.password)
        self.form.add("confirm", "Repeat password", self.confirm)
        self.buttons = Buttons(self, "Add user")
        self.buttons.ok.clicked.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)

    def submit(self) -> None:
        self.form.clear_errors()
        username, password = self.username.text().strip(), self.password.text()
        if password != self.confirm.text():
            self.form.set_errors({"confirm": "The two passwords differ."})
            return
        role, display_name = str(self.role.currentData()), self.display_name.text().strip()
        self.buttons.set_busy(True)
        run_op(
            self,
            lambda: self.engine.users.create_user(
                self.actor, username, password, role, display_name=display_name
            ),
            on_success=self._created,
            on_failure=self._failed,
            key="users.add",
            progress_text=f"Adding {username}…",
        )

    def _created(self, user: UserInfo) -> None:
        clear_secret_fields(self.password, self.confirm)
        self.buttons.set_busy(False)
        self.created.emit(user)
        self.accept()

    def _failed(self, error: BaseException) -> bool:
        self.buttons.set_busy(False)
        return self.form.show_error(error)

    def done(self, result: int) -> None:
        clear_secret_fields(self.password, self.confirm)
        super().done(result)


class ResetPasswordDialog(QDialog):
    password_set = Signal()

    def __init__(self, engine: Engine, actor: Actor, user: UserInfo, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("reset-password")
        self.setWindowTitle(f"Reset the password of {user.username}")
        self.engine, self.actor, self.user = engine, actor, user
        self.form = Form()
        self.password = password_field("password", "at least 8 characters")
        self.confirm = password_field("confirm")
        self.form.add("password", "New password", self.password)
        self.form.add("confirm", "Repeat password", self.confirm)
        self.buttons = Buttons(self, "Set password")
        self.buttons.ok.clicked.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"A new password for <b>{user.username}</b>; this also lifts a lockout."))
        layout.addWidget(self.form)
        layout.addWidget(self.buttons)

    def submit(self) -> None:
        self.form.clear_errors()
        password = self.password.text()
        if password != self.confirm.text():
            self.form.set_errors({"confirm": "The two passwords differ."})
            return
        self.buttons.set_busy(True)
        run_op(
            self,
            lambda: self.engine.users.reset_password(self.actor, self.user.id, password),
            on_success=self._done,
            on_failure=self._failed,
            key="users.reset_password",
            progress_text=f"Setting the password of {self.user.username}…",
        )

    def _done(self, _result: None) -> None:
        clear_secret_fields(self.password, self.confirm)
        self.buttons.set_busy(False)
        self.password_set.emit()
        self.accept()

    def _failed(self, error: BaseException) -> bool:
        self.buttons.set_busy(False)
        return self.form.show_error(error)

    def done(self, result: int) -> None:
        clear_secret_fields(self.password, self.confirm)
        super().done(result)
