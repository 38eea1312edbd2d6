"""Waiting inside a qasync test: poll while the loop (= Qt) keeps running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from PySide6.QtWidgets import QApplication, QWidget


async def wait_until(predicate: Callable[[], object], *, timeout: float = 15.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


async def settle(window) -> None:  # type: ignore[no-untyped-def]
    """Wait until the window's ops are done and Qt delivered what they produced."""
    await window.op_runner.wait_idle()
    await asyncio.sleep(0.05)


def find_dialog(kind: type[QWidget], name: str | None = None) -> QWidget | None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, kind) and widget.isVisible() and (name is None or widget.objectName() == name):
            return widget
    return None


def closed(widget: QWidget) -> bool:
    """Closed: hidden, or already deleted (dialogs delete themselves when they finish)."""
    import shiboken6

    return not shiboken6.isValid(widget) or not widget.isVisible()
