"""First run (create the first admin) and sign-in dialogs."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

from podwarden.engine import Actor, Engine
from podwarden.engine.errors import ConflictError
from podwarden.engine.services.users import UserInfo
from podwarden.ui.dialogs.common import Buttons, clear_secret_fields, password_field, text_field
from podwarden.ui.ops import run_op
from podwarden.ui.widgets.form import Form


class FirstRunDialog(QDialog):
    """No users yet: create the first administrator."""

    def __init__(self, engine: Engine, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("first-run")
        self.setWindowTitle("Welcome to PodWarden")
        self.engine = engine
        self.created_user: UserInfo | None = None
        self.already_set_up = False

        intro = QLabel(
            "<b>Welcome to PodWarden.</b><br>No accounts exist yet. Create the first "
            "administrator; you can add more people in Settings → Users."
        )
        intro.setWordWrap(True)
        self.form = Form()
        self.username = text_field("username", "admin")
        self.display_name = text_field("display_name", "Your name (optional)")
        self.password = password_field("password", "at least 8 characters")
        self.confirm = password_field("confirm")
        self.form.add("username", "Username", self.username)
        self.form.add("display_name", "Name", self.display_name)
        self.form.add("password", "Password", self.password)
        self.form.add("confirm", "Repeat password", self.confirm)
        self.buttons = Buttons(self, "Create admin", cancel_text="Quit")
        self.buttons.ok.clicked.connect(self.submit)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.form)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)

    def submit(self) -> None:
        self.form.clear_errors()
        username, password = self.username.text().strip(), self.password.text()
        if not username:
            self.form.set_errors({"username": "Choose a username."})
            return
        if password != self.confirm.text():
            self.form.set_errors({"confirm": "The two passwords differ."})
            return
        display_name = self.display_name.text().strip()
        self.buttons.set_busy(True)
        run_op(
            self,
            lambda: self.engine.users.create_first_admin(username, password, display_name),
            on_success=self._created,
            on_failure=self._failed,
            key="first-run",
            progress_text="Creating the admin account…",
        )

    def _created(self, user: UserInfo) -> None:
        self.created_user = user
        clear_secret_fields(self.password, self.confirm)
        self.buttons.set_busy(False)
        self.accept()

    def _failed(self, error: BaseException) -> bool:
        self.buttons.set_busy(False)
        if isinstance(error, ConflictError):  # someone else set PodWarden up meanwhile
            self.already_set_up = True
            clear_secret_fields(self.password, self.confirm)
            self.accept()
            return True
        return self.form.show_error(error)

    def done(self, result: int) -> None:
        clear_secret_fields(self.password, self.confirm)
        super().done(result)


class SignInDialog(QDialog):
    """Local sign-in. A wrong password or a locked account shows inline."""

    def __init__(self, engine: Engine, parent: QWidget, *, notice: str = "", username: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("sign-in")
        self.setWindowTitle("Sign in to PodWarden")
        self.engine = engine
        self.actor: Actor | None = None

        title = QLabel("<b>Sign in to PodWarden</b>")
        self.notice = QLabel(notice)
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setVisible(bool(notice))
        self.database = QLabel(f"Database: {engine.database_mode}")
        self.database.setStyleSheet("color: palette(mid);")
        self.database.setWordWrap(True)
        self.form = Form()
        self.username = text_field("username", text=username)
        self.password = password_field("password")
        self.form.add("username", "Username", self.username)
        self.form.add("password", "Password", self.password)
        self.buttons = Buttons(self, "Sign in", cancel_text="Quit")
        self.buttons.ok.clicked.connect(self.submit)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.notice)
        layout.addWidget(self.form)
        layout.addWidget(self.database)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(380)
        (self.password if username else self.username).setFocus()

    def submit(self) -> None:
        self.form.clear_errors()
        username, password = self.username.text().strip(), self.password.text()
        if not username:
            self.form.set_errors({"username": "Enter your username."})
            return
        self.buttons.set_busy(True)
        run_op(
            self,
            lambda: self.engine.users.authenticate(username, password),
            on_success=self._signed_in,
            on_failure=self._failed,
            key="sign-in",
            progress_text="Signing in…",
        )

    def _signed_in(self, actor: Actor) -> None:
        self.actor = actor
        self.password.clear()
        self.buttons.set_busy(False)
        self.accept()

    def _failed(self, error: BaseException) -> bool:
        self.buttons.set_busy(False)
        self.password.clear()
        self.password.setFocus()
        return self.form.show_error(error)

    def done(self, result: int) -> None:
        self.password.clear()
        super().done(result)
