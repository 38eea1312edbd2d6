"""Who is signed in: first run, sign-in, sign-out, and role changes made elsewhere.

:class:`SessionController` drives the dialogs without blocking the event loop
(each is ``open()``-ed and awaited). The window is already painted when it
starts; the engine is open.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from PySide6.QtCore import QObject, Signal

from podwarden.engine import Actor, Engine
from podwarden.engine.errors import NotFoundError, PodWardenError
from podwarden.ui.changes import EVERYTHING, ChangeHub
from podwarden.ui.context import UiContext
from podwarden.ui.dialogs.base import wait_for
from podwarden.ui.dialogs.sign_in import FirstRunDialog, SignInDialog
from podwarden.ui.main_window import MainWindow

log = logging.getLogger(__name__)


class SessionController(QObject):
    signed_in = Signal(object)  # Actor
    signed_out = Signal()
    #: The person chose Quit in a dialog.
    quit_requested = Signal()

    def __init__(self, window: MainWindow, engine: Engine) -> None:
        super().__init__(window)
        self.window = window
        self.engine = engine
        self.changes = ChangeHub(self)
        self.actor: Actor | None = None
        self.dialog: FirstRunDialog | SignInDialog | None = None
        self._flow: asyncio.Task[object] | None = None
        self._last_username = ""
        window.sign_out_requested.connect(self.sign_out)
        self.changes.changed.connect(self._changed)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> asyncio.Task[object]:
        """Listen for change notices, then run the sign-in flow (returns its task)."""
        self._flow = asyncio.ensure_future(self._start())
        return self._flow

    async def _start(self) -> None:
        self.window.show_database(self.engine.database_mode)
        try:
            await self.changes.attach(self.engine)
        except PodWardenError as exc:  # live refresh is a comfort; signing in still works
            self.window.error_dock.report(exc)
        await self.sign_in()

    async def stop(self) -> None:
        self.changes.detach()
        if self._flow is not None and not self._flow.done():
            self._flow.cancel()
            await asyncio.gather(self._flow, return_exceptions=True)

    # -- flows ------------------------------------------------------------------------------
    async def sign_in(self, notice: str = "") -> Actor | None:
        """First run if there are no users, then sign-in; opens the session. None: Quit."""
        try:
            has_users = await self.engine.users.has_users()
        except PodWardenError as exc:
            self.window.error_dock.report(exc)
            return None
        if not has_users:
            first = FirstRunDialog(self.engine, self.window)
            self.dialog = first
            if not await wait_for(first):
                self.dialog = None
                self.quit_requested.emit()
                return None
            if first.created_user is not None:
                self._last_username = first.created_user.username
                notice = f"Created the admin account {first.created_user.username}. Sign in with it."
            else:
                notice = "PodWarden was set up meanwhile (someone else created an account); sign in."
            first.deleteLater()
        dialog = SignInDialog(self.engine, self.window, notice=notice, username=self._last_username)
        self.dialog = dialog
        accepted = await wait_for(dialog)
        actor = dialog.actor
        self.dialog = None
        dialog.deleteLater()
        if not accepted or actor is None:
            self.quit_requested.emit()
            return None
        self._open(actor)
        return actor

    def _open(self, actor: Actor) -> None:
        self.actor = actor
        self._last_username = actor.name
        self.window.open_session(UiContext(self.engine, actor, self.changes))
        self.signed_in.emit(actor)

    def sign_out(self) -> None:
        if self.actor is None:
            return
        log.info("%s signed out", self.actor.name)
        self.actor = None
        self.window.close_session()
        self.signed_out.emit()
        self._flow = asyncio.ensure_future(self.sign_in(notice="Signed out."))

    # -- role changes made elsewhere --------------------------------------------------------
    def _changed(self, table: str, ids: object) -> None:
        actor = self.actor
        if actor is None or actor.id is None or table not in ("users", EVERYTHING):
            return
        if isinstance(ids, tuple) and str(actor.id) not in ids:
            return
        self.window.op_runner.run(
            self,
            lambda: self._current(actor.id),
            on_success=self._apply_current,
            key="session.actor",
            progress_text="Checking your account…",
        )

    async def _current(self, user_id: uuid.UUID | None) -> Actor | None:
        assert user_id is not None
        try:
            return await self.engine.users.actor_for(user_id)
        except NotFoundError:
            return None

    def _apply_current(self, current: Actor | None) -> None:
        if self.actor is None:
            return
        if current is None:  # deleted or disabled meanwhile
            self.sign_out()
        elif current.role is not self.actor.role:
            log.info("%s now has the %s role", current.name, current.role.value)
            self._open(current)
