"""A sidebar page for a view that is not there yet (or needs a signed-in session)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def placeholder(name: str, text: str) -> QLabel:
    page = QLabel(f"{name}\n\n{text}")
    page.setObjectName(f"page-{name.lower()}")
    page.setAlignment(Qt.AlignmentFlag.AlignCenter)
    page.setStyleSheet("color: palette(mid); font-size: 14px;")
    return page
