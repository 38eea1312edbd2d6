"""A form whose errors show at their fields.

The engine's :class:`ValidationError` maps field → message; :meth:`Form.show_error`
puts each message under its field (``prefix`` strips a section, e.g.
``"tailscale."``) and anything else (a ConflictError, a field the form does
not have) in the message line at the top.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from podwarden.engine.errors import (
    ConflictError,
    NotFoundError,
    PermissionDenied,
    ProtectedResourceError,
    ValidationError,
)

#: Errors about the input or the record the form edits; others (database down,
#: configuration) go to the error panel.
INLINE_ERRORS = (ConflictError, NotFoundError, PermissionDenied, ProtectedResourceError)

ERROR_STYLE = "color: #c01c28;"
NOTE_STYLE = "color: #26a269;"


def error_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.setVisible(False)
    return label


class Form(QWidget):
    def __init__(self, parent: QWidget | None = None, *, prefix: str = "") -> None:
        super().__init__(parent)
        self.prefix = prefix
        self.message = error_label("form-message")
        self.note = QLabel()
        self.note.setObjectName("form-note")
        self.note.setStyleSheet(NOTE_STYLE)
        self.note.setVisible(False)
        self.rows = QFormLayout()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.message)
        outer.addLayout(self.rows)
        outer.addWidget(self.note)
        self.fields: dict[str, QWidget] = {}
        self._errors: dict[str, QLabel] = {}

    def add(self, name: str, label: str, widget: QWidget, *, hint: str = "") -> None:
        holder = QWidget()
        box = QVBoxLayout(holder)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(widget)
        if hint:
            hint_label = QLabel(hint)
            hint_label.setStyleSheet("color: palette(mid);")
            hint_label.setWordWrap(True)
            box.addWidget(hint_label)
        error = error_label(f"error-{name}")
        box.addWidget(error)
        self.rows.addRow(label, holder)
        self.fields[name] = widget
        self._errors[name] = error

    # -- errors ---------------------------------------------------------------------------
    def error(self, name: str) -> str:
        """The error shown at field ``name`` ('' when none)."""
        return self._errors[name].text()

    @property
    def message_text(self) -> str:
        return self.message.text()

    def clear_errors(self) -> None:
        for label in (*self._errors.values(), self.message, self.note):
            label.clear()
            label.setVisible(False)

    def set_errors(self, errors: Mapping[str, str], message: str = "") -> None:
        self.clear_errors()
        leftovers: list[str] = []
        for key, text in errors.items():
            name = key.removeprefix(self.prefix)
            label = self._errors.get(name)
            if label is None:
                leftovers.append(f"{key}: {text}")
            else:
                label.setText(text)
                label.setVisible(True)
        lines = [message] if message else []
        lines += leftovers
        if lines:
            self.message.setText("\n".join(lines))
            self.message.setVisible(True)

    def show_error(self, error: BaseException) -> bool:
        """Show an engine error in the form; returns True when it did (for ``run_op``)."""
        if isinstance(error, ValidationError):
            if error.errors:
                known = any(k.removeprefix(self.prefix) in self._errors for k in error.errors)
                self.set_errors(error.errors, "" if known else str(error))
            else:
                self.set_errors({}, str(error))
            return True
        if isinstance(error, INLINE_ERRORS):
            self.set_errors({}, str(error))
            return True
        return False

    def show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))
