"""Building blocks of the small dialogs: password fields and an OK/Cancel row that does not auto-close."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QPushButton, QWidget


def password_field(name: str, placeholder: str = "") -> QLineEdit:
    """A write-only field: echo off, no copy-out, never filled from the engine."""
    field = QLineEdit()
    field.setObjectName(name)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText(placeholder)
    return field


def text_field(name: str, placeholder: str = "", text: str = "") -> QLineEdit:
    field = QLineEdit(text)
    field.setObjectName(name)
    field.setPlaceholderText(placeholder)
    return field


class Buttons(QDialogButtonBox):
    """OK runs the dialog's ``submit`` (which closes it on success); Cancel rejects."""

    def __init__(self, dialog: QDialog, ok_text: str, *, cancel_text: str = "Cancel") -> None:
        super().__init__(dialog)
        self.ok: QPushButton = self.addButton(ok_text, QDialogButtonBox.ButtonRole.ActionRole)
        self.ok.setObjectName("ok")
        self.ok.setDefault(True)
        self.cancel: QPushButton = self.addButton(cancel_text, QDialogButtonBox.ButtonRole.RejectRole)
        self.cancel.setObjectName("cancel")
        self.rejected.connect(dialog.reject)

    def set_busy(self, busy: bool) -> None:
        self.ok.setEnabled(not busy)


def clear_secret_fields(*fields: QWidget) -> None:
    for field in fields:
        if isinstance(field, QLineEdit):
            field.clear()
