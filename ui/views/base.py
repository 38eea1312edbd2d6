"""What the views share: the context, change-notice routing and the first load."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QWidget

from podwarden.engine import Actor, Engine
from podwarden.ui.changes import affects
from podwarden.ui.context import UiContext


class View(QWidget):
    """A sidebar page bound to a signed-in session.

    ``watched`` names the tables whose change notices concern the view;
    :meth:`on_change` gets them (``ids`` None: reload everything). :meth:`start`
    runs once the view sits in the main window (ops need the window's runner).
    """

    watched: frozenset[str] = frozenset()
    #: Change notices reload at most this often (0: at once). Hidden views reload when shown.
    reload_delay_ms = 0

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._stale = False
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.timeout.connect(self.reload)
        ctx.changes.changed.connect(self._changed)

    @property
    def engine(self) -> Engine:
        return self.ctx.engine

    @property
    def actor(self) -> Actor:
        return self.ctx.actor

    def start(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Load everything the view shows."""

    def on_change(self, table: str, ids: tuple[str, ...] | None) -> None:
        self.request_reload()

    def request_reload(self) -> None:
        """Reload soon: throttled by ``reload_delay_ms``, deferred while the view is hidden."""
        if not self.isVisible():
            self._stale = True
        elif self.reload_delay_ms <= 0:
            self.reload()
        elif not self._reload_timer.isActive():
            self._reload_timer.start(self.reload_delay_ms)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.reload()

    def _changed(self, table: str, ids: object) -> None:
        if affects(table, self.watched):
            self.on_change(table, ids if isinstance(ids, tuple) else None)
