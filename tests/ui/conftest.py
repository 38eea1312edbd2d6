"""UI tests run on a qasync event loop: the Qt event loop *is* the asyncio loop.

pytest-asyncio creates one loop per test through the factory below, so async
tests and async fixtures (``engine`` from tests/conftest.py) share a qasync
``QEventLoop``: while a test awaits, Qt paints, delivers signals and runs the
views' ops. Tests wait with ``await wait_until(...)`` (tests/ui/helpers.py), never
with ``qtbot.wait*`` (a nested Qt loop inside a running task would re-enter asyncio).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator, Mapping

import pytest
import qasync
from PySide6.QtWidgets import QApplication


class _TestLoop(qasync.QEventLoop):
    """qasync's loop, minus the bare ``processEvents()`` it runs after each
    ``run_until_complete`` once the loop has stopped: ops still in flight at the end
    of a test (or fixture) would take a step there with no running loop. Pending
    events are handled by the next run instead, with the loop running."""

    def run_until_complete(self, future):  # type: ignore[no-untyped-def]
        future = asyncio.ensure_future(future, loop=self)

        def stop(_future: object) -> None:
            self.stop()

        future.add_done_callback(stop)
        try:
            self.run_forever()
        finally:
            future.remove_done_callback(stop)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()


_current: list[_TestLoop] = []  # the loop of the running test, if any


def _qasync_loop() -> asyncio.AbstractEventLoop:
    app = QApplication.instance() or QApplication([])
    loop = _TestLoop(app)
    _current[:] = [loop]
    return loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"qasync": _qasync_loop}


def _process_events_in_the_loop() -> None:
    """pytest-qt processes Qt events between test phases. On a qasync loop those events
    include asyncio callbacks (an op finishing, a notice arriving), which must run with
    the loop running: so spin the loop once instead of calling processEvents() bare."""
    app = QApplication.instance()
    if app is None:
        return
    loop = _current[0] if _current else None
    if loop is not None and not loop.is_closed() and not loop.is_running():
        loop.run_until_complete(asyncio.sleep(0))
    else:
        app.processEvents()


@pytest.fixture(autouse=True)
def _qt_events_through_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytestqt.plugin

    monkeypatch.setattr(pytestqt.plugin, "_process_events", _process_events_in_the_loop)


@pytest.fixture(autouse=True)
def _collect_qt_garbage_on_the_main_thread() -> Iterator[None]:
    """Free each test's garbage (its closed qasync loop and the Qt objects in cycles with
    it) here, on the main thread. Left to chance, the cyclic GC may run in a worker
    thread (asyncio.to_thread, the kube adapter) and destroy QObjects with live timers
    there; Qt then delivers a timer event to a freed object (seen as a segfault in
    QTimerInfoList::activateTimers a few tests later)."""
    yield
    gc.collect()


# -- a signed-in window on the test's engine ------------------------------------------------
ADMIN_PASSWORD = "admin-password-1"


@pytest.fixture
async def window(qtbot):  # type: ignore[no-untyped-def]
    """The main window, shown. At the end its ops are stopped (inside the loop), and no
    unexpected error may have reached its error panel.

    Not registered with qtbot: pytest-qt would delete it before the fixtures that
    outlive it (``qtmodeltester`` watching one of its models) are torn down.
    """
    from podwarden.ui.main_window import MainWindow

    win = MainWindow()
    win.show()
    yield win
    await win.op_runner.shutdown()
    unexpected = [e.message for e in win.error_dock.panel.entries if e.message.startswith("Unexpected")]
    win.close()
    win.deleteLater()
    assert not unexpected, unexpected


@pytest.fixture
async def admin_user(engine):  # type: ignore[no-untyped-def]
    """A real admin account (an Actor with a user id), signed in through the engine."""
    await engine.users.create_first_admin("admin", ADMIN_PASSWORD, "Ada Admin")
    return await engine.users.authenticate("admin", ADMIN_PASSWORD)


@pytest.fixture
async def changes(engine):  # type: ignore[no-untyped-def]
    from podwarden.ui.changes import ChangeHub

    hub = ChangeHub()
    await hub.attach(engine)
    yield hub
    hub.detach()


@pytest.fixture
async def open_session(engine, window, changes):  # type: ignore[no-untyped-def]
    """open_session(actor) shows the views for ``actor`` and waits for their first load."""
    from podwarden.ui.context import UiContext
    from tests.ui.helpers import settle

    async def open_(actor):  # type: ignore[no-untyped-def]
        window.open_session(UiContext(engine, actor, changes))
        await settle(window)
        return window

    yield open_
    window.close_session()
    await window.op_runner.shutdown()
