"""Dialogs that never block the event loop: ``open()`` them and await the result."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import shiboken6
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget


async def wait_for(dialog: QDialog) -> int:
    """Open ``dialog`` window-modally (without a nested event loop) and wait until it closes."""
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(result: int) -> None:
        if not done.done():
            done.set_result(result)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await done
    finally:
        if shiboken6.isValid(dialog):
            dialog.finished.disconnect(finished)


def confirm(
    parent: QWidget,
    title: str,
    text: str,
    on_yes: Callable[[], object],
    *,
    yes_text: str = "Delete",
) -> QMessageBox:
    """Ask before something destructive; ``on_yes`` runs only if the person agrees.

    Non-blocking: returns the open message box (tests press its buttons).
    """
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("confirm")
    yes = box.addButton(yes_text, QMessageBox.ButtonRole.DestructiveRole)
    yes.setObjectName("confirm-yes")
    no = box.addButton(QMessageBox.StandardButton.Cancel)
    no.setObjectName("confirm-no")
    box.setDefaultButton(no)

    def finished(_result: int) -> None:
        if box.clickedButton() is yes:
            on_yes()
        box.deleteLater()

    box.finished.connect(finished)
    box.open()
    return box
