"""The one way views call the engine: :func:`run_op` (after Anki's ``CollectionOp``).

    run_op(self, lambda: engine.users.list_users(actor),
           on_success=self.model.replace, key="users.list", progress_text="Loading users…")

- The coroutine runs as a task on the qasync loop (the Qt event loop), so the
  window keeps painting; :class:`OpRunner` keeps a reference to every task.
- A newer op with the same ``key`` cancels the stale one: its callbacks never run.
- The status bar shows a busy indicator while ops run (after a short grace
  period, so quick reads do not flicker).
- Failures go to ONE place, the window's error panel. ``on_failure(exc)`` may
  handle a :class:`PodWardenError` itself (a form shows a ValidationError at
  its fields) by returning ``True``. Unexpected exceptions are logged with
  their traceback and always reach the panel.
- Callbacks are skipped when ``parent`` was deleted meanwhile.

The runner is found by walking ``parent``'s QObject parents up to the window
that owns one (see :class:`OpHost`); nothing here is a global.

This module (like main_window and error_panel) does not import the engine at
import time: the window paints before the engine is loaded.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long an op may run before the busy indicator appears.
BUSY_GRACE_MS = 200

FailureHandler = Callable[[BaseException], bool | None]


class ErrorSink(Protocol):
    def report(self, error: BaseException, details: str = "") -> None: ...


@runtime_checkable
class OpHost(Protocol):
    """A QObject (the main window) that owns the op runner for everything inside it."""

    op_runner: OpRunner


@dataclass(eq=False)
class _Op:
    parent: QObject
    factory: Callable[[], Awaitable[Any]]
    on_success: Callable[[Any], object] | None
    on_failure: FailureHandler | None
    key: str | None
    progress_text: str
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class OpRunner(QObject):
    """Runs ops, tracks them for the busy indicator and routes their errors."""

    #: (busy, text): the indicator shows while busy is True.
    busy_changed = Signal(bool, str)

    def __init__(self, errors: ErrorSink, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.errors = errors
        self._tasks: set[asyncio.Task[None]] = set()
        self._keyed: dict[str, _Op] = {}
        self._active: list[_Op] = []
        self._busy_shown = False
        self._grace = QTimer(self)
        self._grace.setSingleShot(True)
        self._grace.setInterval(BUSY_GRACE_MS)
        self._grace.timeout.connect(self._show_busy)

    # -- starting -------------------------------------------------------------------------
    def run(
        self,
        parent: QObject,
        coro_factory: Callable[[], Awaitable[T]],
        *,
        on_success: Callable[[T], object] | None,
        on_failure: FailureHandler | None = None,
        key: str | None = None,
        progress_text: str | None = None,
    ) -> asyncio.Task[None]:
        op = _Op(parent, coro_factory, on_success, on_failure, key, progress_text or "Working…")
        if key is not None:
            stale = self._keyed.pop(key, None)
            if stale is not None and stale.task is not None:
                stale.task.cancel()
            self._keyed[key] = op
        task = asyncio.ensure_future(self._execute(op))
        op.task = task
        self._tasks.add(task)
        self._active.append(op)
        # Bookkeeping in a done callback: a task cancelled before it started never runs its body.
        task.add_done_callback(lambda done: self._finished(op, done))
        self._update_busy()
        return task

    @property
    def pending(self) -> int:
        """How many ops are running."""
        return len(self._tasks)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no op runs (screenshots and tests use this)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel every op and wait for them (before the engine closes)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- running --------------------------------------------------------------------------
    async def _execute(self, op: _Op) -> None:
        from podwarden.engine.errors import PodWardenError  # loaded by now; see the module doc

        try:
            result = await op.factory()
        except PodWardenError as exc:
            self._fail(op, exc, expected=True)
            return
        except Exception as exc:
            log.exception("an operation failed unexpectedly (%s)", op.progress_text)
            self._fail(op, exc, expected=False)
            return
        if op.on_success is not None and _alive(op.parent):
            try:
                op.on_success(result)
            except Exception as exc:
                log.exception("showing the result of an operation failed")
                self._report(exc, traceback.format_exc())

    def _finished(self, op: _Op, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._active.remove(op)
        if op.key is not None and self._keyed.get(op.key) is op:
            del self._keyed[op.key]
        if _alive(self):  # the window may be gone at shutdown
            self._update_busy()

    def _fail(self, op: _Op, exc: Exception, *, expected: bool) -> None:
        details = "" if expected else traceback.format_exc()
        handled = False
        if op.on_failure is not None and _alive(op.parent):
            try:
                handled = bool(op.on_failure(exc))
            except Exception as inner:
                log.exception("an operation's failure handler failed")
                self._report(inner, traceback.format_exc())
        if not handled or not expected:
            self._report(exc, details)

    def _report(self, error: BaseException, details: str) -> None:
        if _alive(self):
            self.errors.report(error, details)
        else:  # the window closed meanwhile: the log is all that is left
            log.warning("after the window closed: %s", error)

    # -- busy indicator -------------------------------------------------------------------
    def _update_busy(self) -> None:
        if self._active:
            if self._busy_shown:
                self.busy_changed.emit(True, self._active[-1].progress_text)
            elif not self._grace.isActive():
                self._grace.start()
        else:
            self._grace.stop()
            if self._busy_shown:
                self._busy_shown = False
                self.busy_changed.emit(False, "")

    def _show_busy(self) -> None:
        if self._active:
            self._busy_shown = True
            self.busy_changed.emit(True, self._active[-1].progress_text)


def _alive(obj: QObject) -> bool:
    return shiboken6.isValid(obj)


def runner_for(obj: QObject) -> OpRunner:
    """The op runner of the window ``obj`` lives in."""
    current: QObject | None = obj
    while current is not None:
        if isinstance(current, OpHost):
            return current.op_runner
        current = current.parent()
    raise RuntimeError(
        f"{type(obj).__name__} is not inside a window that runs ops; add it to the main window first."
    )


def run_op(
    parent: QObject,
    coro_factory: Callable[[], Awaitable[T]],
    *,
    on_success: Callable[[T], object] | None,
    on_failure: FailureHandler | None = None,
    key: str | None = None,
    progress_text: str | None = None,
) -> asyncio.Task[None]:
    """Run an engine call for ``parent``; see the module docstring."""
    return runner_for(parent).run(
        parent,
        coro_factory,
        on_success=on_success,
        on_failure=on_failure,
        key=key,
        progress_text=progress_text,
    )
