"""``podwarden``: the desktop app.

The window paints first; the engine (and the embedded PostgreSQL, ≈ 0.7 s)
starts behind it on the same qasync event loop. A startup failure is shown
as one sentence and the app exits non-zero.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from podwarden.app.errors import explain
from podwarden.app.logging_setup import setup_logging

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    setup_logging(level="DEBUG" if "--debug" in argv else "WARNING")
    import qasync
    from PySide6.QtWidgets import QApplication, QMessageBox

    from podwarden.engine import Engine, Settings
    from podwarden.ui.main_window import MainWindow

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv)
    app.setApplicationName("PodWarden")
    exit_code = 0

    async def run() -> None:
        nonlocal exit_code
        window = MainWindow()
        window.show()
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        try:
            async with Engine(Settings()) as engine:
                window.show_database(engine.database_mode)
                if "--quit-when-ready" in argv:  # used by tests and the startup benchmark
                    window.close()
                await closed.wait()
        except Exception as exc:
            message, exit_code = explain(exc)
            log.debug("startup failed", exc_info=True)
            print(f"podwarden: {message}", file=sys.stderr)
            if "--quit-when-ready" not in argv:
                box = QMessageBox(QMessageBox.Icon.Critical, "PodWarden cannot start", message, parent=window)
                done = asyncio.Event()
                box.finished.connect(lambda _result: done.set())
                box.open()
                await done.wait()

    qasync.run(run())
    raise SystemExit(exit_code)


if __name__ == "__main__":
    main()
