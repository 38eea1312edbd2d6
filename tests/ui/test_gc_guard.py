"""The desktop collects cyclic garbage on the Qt thread only."""

from __future__ import annotations

import asyncio
import gc
import threading

from podwarden.ui.gc_guard import GcGuard


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_garbage_is_collected_on_the_qt_thread_only() -> None:
    guard = GcGuard(interval_ms=5)
    threads: list[str] = []

    def record(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            threads.append(threading.current_thread().name)

    gc.callbacks.append(record)
    guard.start()
    try:
        assert not gc.isenabled()

        def churn() -> None:  # a worker thread allocating plenty of cycles
            for _ in range(50_000):
                _Cycle()

        await asyncio.to_thread(churn)
        for _ in range(200):
            if guard.collections:
                break
            await asyncio.sleep(0.01)
        # Collections happened (while the worker churned, too), all on the Qt thread.
        assert guard.collections > 0 and set(threads) == {threading.main_thread().name}
    finally:
        gc.callbacks.remove(record)
        guard.stop()
    assert gc.isenabled()
