"""Create a secret or replace its value. Values are write-only: typed, sent, cleared."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDialog, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from podwarden.engine import Actor, Engine
from podwarden.engine.services.secrets import SecretInfo
from podwarden.ui.dialogs.common import Buttons, password_field, text_field
from podwarden.ui.ops import run_op
from podwarden.ui.widgets.form import Form

SECRET_KINDS = ("generic", "ssh-key", "kubeconfig", "registry", "s3", "dns", "api-key")


class SecretDialog(QDialog):
    """``existing`` None: a new secret; else replace the value of ``existing``."""

    saved = Signal(object)  # SecretInfo

    def __init__(
        self, engine: Engine, actor: Actor, parent: QWidget, existing: SecretInfo | None = None
    ) -> None:
        super().__init__(parent)
        self.engine, self.actor, self.existing = engine, actor, existing
        self.setObjectName("secret-dialog")
        self.setWindowTitle("New secret" if existing is None else f"Replace secret {existing.name}")
        self.form = Form()
        self.name = text_field("name", "e.g. ssh/fleet-key", existing.name if existing else "")
        self.name.setReadOnly(existing is not None)
        self.kind = QComboBox()
        self.kind.setObjectName("kind")
        self.kind.setEditable(True)
        self.kind.addItems(list(SECRET_KINDS))
        if existing is not None:
            self.kind.setCurrentText(existing.kind)
            self.kind.setEnabled(False)
        self.description = text_field(
            "description", "what it is for", existing.description if existing else ""
        )
        self.value = password_field("value", "the secret value (write-only)")
        self.multiline = QPlainTextEdit()
        self.multiline.setObjectName("value_multiline")
        self.multiline.setPlaceholderText("…or paste a multi-line value (an SSH key, a kubeconfig)")
        self.multiline.setMaximumHeight(90)
        self.form.add("name", "Name", self.name, hint="lower-case letters, digits and . _ : / -")
        self.form.add("kind", "Kind", self.kind)
        self.form.add("description", "Description", self.description)
        self.form.add("value", "Value", self.value)
        self.form.add("value_multiline", "", self.multiline)
        self.buttons = Buttons(self, "Create" if existing is None else "Replace value")
        self.buttons.ok.clicked.connect(self.submit)
        layout = QVBoxLayout(self)
        if existing is not None:
            layout.addWidget(QLabel("The current value is never shown; the new one replaces it."))
        layout.addWidget(self.form)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)

    def _value(self) -> str:
        return self.value.text() or self.multiline.toPlainText()

    def submit(self) -> None:
        self.form.clear_errors()
        value = self._value()
        if not value:
            self.form.set_errors({"value": "Enter the value (it is stored encrypted and never shown)."})
            return
        name, description = self.name.text().strip(), self.description.text().strip()
        kind = self.kind.currentText().strip() or "generic"
        existing = self.existing
        self.buttons.set_busy(True)
        if existing is None:
            run_op(
                self,
                lambda: self.engine.secrets.create_secret(
                    self.actor, name, value, kind=kind, description=description
                ),
                on_success=self._saved,
                on_failure=self._failed,
                key="secrets.save",
                progress_text=f"Storing {name}…",
            )
        else:
            run_op(
                self,
                lambda: self.engine.secrets.update_secret(
                    self.actor,
                    existing.name,
                    value,
                    expected_version=existing.version,
                    description=description,
                ),
                on_success=self._saved,
                on_failure=self._failed,
                key="secrets.save",
                progress_text=f"Replacing {existing.name}…",
            )

    def _clear_value(self) -> None:
        self.value.clear()
        self.multiline.clear()

    def _saved(self, info: SecretInfo) -> None:
        self._clear_value()
        self.buttons.set_busy(False)
        self.saved.emit(info)
        self.accept()

    def _failed(self, error: BaseException) -> bool:
        self.buttons.set_busy(False)
        return self.form.show_error(error)

    def done(self, result: int) -> None:
        self._clear_value()  # the value never outlives the dialog
        super().done(result)
