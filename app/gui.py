"""``podwarden``: the desktop app.

The window paints first; then the engine modules load (in a thread, so the
window stays responsive) and the engine (with the embedded PostgreSQL, ≈ 0.7 s)
starts behind it on the same qasync event loop. The session controller then
asks for the first admin (a fresh database) and signs someone in. A startup
failure is shown as one sentence and the app exits non-zero.

Nothing of the engine is imported before the window has painted.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
from typing import TYPE_CHECKING

from podwarden.app.logging_setup import setup_logging

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    setup_logging(level="DEBUG" if "--debug" in argv else "WARNING")
    import qasync
    from PySide6.QtWidgets import QApplication, QMessageBox

    from podwarden.ui.main_window import MainWindow

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv)
    app.setApplicationName("PodWarden")
    # Closing the window must not stop the loop: the engine still has to close cleanly.
    # run() waits for lastWindowClosed itself and returns when it is done.
    app.setQuitOnLastWindowClosed(False)
    quit_when_ready = "--quit-when-ready" in argv  # used by tests and the startup benchmark
    exit_code = 0

    async def run() -> None:
        nonlocal exit_code
        window = MainWindow()
        window.show()
        from podwarden.ui.gc_guard import GcGuard

        gc_guard = GcGuard(window)  # collect garbage on this thread only (see ui/gc_guard.py)
        gc_guard.start()
        app.processEvents()  # paint now, before the engine loads
        log.debug("window painted")
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        _close_on_signals(window)
        try:
            engine_module = await asyncio.to_thread(importlib.import_module, "podwarden.engine")
            from podwarden.ui.session import SessionController

            async with engine_module.Engine(engine_module.Settings()) as engine:
                window.show_database(engine.database_mode)
                if quit_when_ready:
                    window.close()
                    await closed.wait()
                    return
                from podwarden.engine.loops import desktop_runner

                loops = desktop_runner(engine)  # PODWARDEN_DESKTOP_LOOPS: auto | on | off
                if loops is not None:
                    await loops.start()  # first ticks after one interval: nothing contacted at start
                session = SessionController(window, engine)
                session.quit_requested.connect(window.close)
                session.start()
                try:
                    await closed.wait()
                    await session.stop()
                    await window.op_runner.shutdown()
                finally:
                    if loops is not None:
                        await loops.stop()
        except Exception as exc:
            from podwarden.app.errors import explain

            message, exit_code = explain(exc)
            log.debug("startup failed", exc_info=True)
            print(f"podwarden: {message}", file=sys.stderr)
            if not quit_when_ready:
                box = QMessageBox(QMessageBox.Icon.Critical, "PodWarden cannot start", message, parent=window)
                done = asyncio.Event()
                box.finished.connect(lambda _result: done.set())
                box.open()
                await done.wait()

    qasync.run(run())
    raise SystemExit(exit_code)


def _close_on_signals(window: QWidget) -> None:
    """SIGTERM / SIGINT (Ctrl+C in a terminal) close the window: the engine then closes cleanly."""
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(number, window.close)
        except (NotImplementedError, RuntimeError):  # Windows: no signal handlers on the loop
            log.debug("cannot handle signal %s on this platform", number)


if __name__ == "__main__":
    main()
