"""The one place errors are shown: a non-modal panel docked at the bottom of the window.

It shows the latest error's message, a count of earlier ones, and an expandable
details area (error type, the fields of a ValidationError, the traceback of an
unexpected exception). Showing an error never blocks the event loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

MAX_KEPT = 50


@dataclass(frozen=True)
class ErrorEntry:
    when: datetime
    message: str
    details: str


def describe(error: BaseException, details: str = "") -> ErrorEntry:
    """The message a person reads and the details behind it."""
    from podwarden.engine.errors import (  # not at import time: the window paints first
        ExternalServiceError,
        PodWardenError,
        TemporaryServiceError,
        ValidationError,
    )

    lines = [f"Type: {type(error).__module__}.{type(error).__qualname__}"]
    if isinstance(error, PodWardenError):
        message = str(error)
        if isinstance(error, ValidationError):
            lines += [f"  {field}: {text}" for field, text in error.errors.items()]
        if isinstance(error, ExternalServiceError):
            lines.append(f"Service: {error.service}")
            if isinstance(error, TemporaryServiceError):
                lines.append("This may work if you try again later.")
        cause = error.__cause__
        if cause is not None:
            lines.append(f"Caused by: {type(cause).__name__}: {cause}")
    else:
        message = f"Unexpected error: {type(error).__name__}: {error}"
    if details:
        lines += ["", details.rstrip()]
    return ErrorEntry(datetime.now().astimezone(), message, "\n".join(lines))


class ErrorPanel(QWidget):
    """Latest error + expandable details. ``report()`` is the ErrorSink the op runner uses."""

    reported = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("error-panel")
        self.entries: list[ErrorEntry] = []

        self.icon = QLabel("⚠")
        self.icon.setStyleSheet("color: #b3261e; font-size: 16px;")
        self.message = QLabel()
        self.message.setObjectName("error-message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.count = QLabel()
        self.count.setStyleSheet("color: palette(mid);")
        self.toggle = QPushButton("Details")
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._show_details)
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.clicked.connect(self.clear)

        self.details = QPlainTextEdit()
        self.details.setObjectName("error-details")
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setVisible(False)
        self.details.setMinimumHeight(100)
        self.details.setMaximumHeight(200)

        top = QHBoxLayout()
        top.addWidget(self.icon)
        top.addWidget(self.message, 1)
        top.addWidget(self.count)
        top.addWidget(self.toggle)
        top.addWidget(self.dismiss)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addLayout(top)
        layout.addWidget(self.details)

    @property
    def latest(self) -> ErrorEntry | None:
        return self.entries[-1] if self.entries else None

    def report(self, error: BaseException, details: str = "") -> None:
        entry = describe(error, details)
        if not details:  # an engine error: its message is the whole story
            log.info("shown to the user: %s", entry.message)
        self.entries = [*self.entries[-(MAX_KEPT - 1) :], entry]
        self.message.setText(entry.message)
        earlier = len(self.entries) - 1
        self.count.setText(f"{earlier} earlier" if earlier else "")
        self.details.setPlainText(self._details_text())
        self.reported.emit(entry.message)

    def clear(self) -> None:
        self.entries = []
        self.message.clear()
        self.count.clear()
        self.details.clear()
        self.toggle.setChecked(False)
        self.reported.emit("")

    def _details_text(self) -> str:
        parts = []
        for entry in reversed(self.entries):
            parts.append(f"[{entry.when:%H:%M:%S}] {entry.message}\n{entry.details}")
        return "\n\n".join(parts)

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)


class ErrorDock(QDockWidget):
    """The panel in a dock at the bottom: hidden until an error arrives, hidden again on Dismiss."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Errors", parent)
        self.setObjectName("error-dock")
        self.panel = ErrorPanel(self)
        self.setWidget(self.panel)
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea)
        self.panel.reported.connect(self._on_reported)
        self.hide()

    def report(self, error: BaseException, details: str = "") -> None:
        self.panel.report(error, details)

    def _on_reported(self, message: str) -> None:
        self.setVisible(bool(message))
