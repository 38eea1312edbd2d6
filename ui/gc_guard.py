"""Run Python's cyclic garbage collector on the Qt thread only.

Automatic collection runs in whichever thread happens to allocate; with the engine's
worker threads (asyncio.to_thread, the Kubernetes adapter) that can be a thread
other than Qt's, and a QObject freed there takes its timers down unsafely: Qt
later delivers a timer event to freed memory (a segfault). So the desktop turns
automatic collection off and collects from a timer on the main thread, one
generation at a time, when the allocation counts say it is due (the same rule
Python uses). pyqtgraph's ``GarbageCollector`` does the same for the same reason.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 100


class GcGuard(QObject):
    def __init__(self, parent: QObject | None = None, *, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.threshold = gc.get_threshold()
        self.collections = 0

    def start(self) -> None:
        gc.disable()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        gc.enable()

    def check(self) -> None:
        """Collect the oldest generation whose count passed its threshold."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self.threshold[generation]:
                gc.collect(generation)
                self.collections += 1
                return
