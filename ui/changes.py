"""Live refresh: the engine's change notices as one Qt signal.

The engine's listener calls :meth:`ChangeHub.notice` for every committed change
(ours and other engines'). Notices arrive in bursts (a running job announces
each output line), so the hub gathers them for a short moment and then emits
``changed(table, ids)`` once per table: ``ids`` is a tuple of row ids, or
``None`` meaning "reload all of it". A ``"*"`` notice (the listener reconnected
and may have missed some) is emitted alone as ``changed("*", None)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

EVERYTHING = "*"


class ChangeNotice(Protocol):
    """What the engine's listener hands over (engine.db.listen.Change)."""

    @property
    def table(self) -> str: ...

    @property
    def ids(self) -> tuple[str, ...] | None: ...


class Subscribable(Protocol):
    async def subscribe(self, callback: Callable[[ChangeNotice], None]) -> Callable[[], None]: ...


class ChangeHub(QObject):
    changed = Signal(str, object)  # table, tuple[str, ...] | None

    def __init__(self, parent: QObject | None = None, *, delay_ms: int = 120) -> None:
        super().__init__(parent)
        self._pending: dict[str, set[str] | None] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)

    async def attach(self, engine: Subscribable) -> None:
        """Start receiving the engine's notices (starts its listener on first use)."""
        if self._unsubscribe is None:
            self._unsubscribe = await engine.subscribe(self.notice)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._timer.stop()
        self._pending.clear()

    def notice(self, change: ChangeNotice) -> None:
        if not shiboken6.isValid(self):  # the window closed before the engine
            return
        table, ids = change.table, change.ids
        if table == EVERYTHING or ids is None:
            self._pending[table] = None
        else:
            current = self._pending.setdefault(table, set())
            if current is not None:
                current.update(ids)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if EVERYTHING in pending:
            self.changed.emit(EVERYTHING, None)
            return
        for table, ids in pending.items():
            self.changed.emit(table, None if ids is None else tuple(sorted(ids)))


def affects(table: str, watched: frozenset[str] | set[str]) -> bool:
    """Whether a ``changed(table, …)`` signal concerns a view watching ``watched`` tables."""
    return table == EVERYTHING or table in watched
