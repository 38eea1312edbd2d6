"""The parts of the deployment form that follow the chosen stack: env values (from the
stack's env schema) and config file contents (one editor per config slot)."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

from podwarden.engine.schemas.stacks import ConfigSlot, EnvVarSpec, Stack
from podwarden.ui.widgets.form import Form

GENERATED = "generated at deploy"


def _is_secret(entry: EnvVarSpec) -> bool:
    return entry.secret or entry.generate


class _Section(QWidget):
    """A form rebuilt whenever the stack changes (rows cannot be taken out of a form)."""

    empty_text = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.empty = QLabel(self.empty_text)
        self.empty.setStyleSheet("color: palette(mid);")
        self._layout.addWidget(self.empty)
        self.form = Form()
        self._layout.addWidget(self.form, 1)

    def _new_form(self, has_rows: bool) -> Form:
        self._layout.removeWidget(self.form)
        self.form.deleteLater()
        self.form = Form()
        self._layout.addWidget(self.form, 1)
        self.empty.setVisible(not has_rows)
        return self.form


class EnvEditor(_Section):
    """One field per env schema entry: required ones marked, secret values masked (and
    never shown back), generated ones left empty meaning "generated at deploy"."""

    empty_text = "The stack asks for no environment values."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[EnvVarSpec] = []
        self.edits: dict[str, QLineEdit] = {}

    def load(self, stack: Stack | None, values: Mapping[str, str], stored_secrets: list[str]) -> None:
        self.entries = list(stack.env_schema) if stack is not None else []
        self.edits = {}
        form = self._new_form(bool(self.entries))
        for entry in self.entries:
            edit = QLineEdit()
            edit.setObjectName(f"env-{entry.name}")
            if _is_secret(entry):
                edit.setEchoMode(QLineEdit.EchoMode.Password)
                if entry.name in stored_secrets:
                    edit.setPlaceholderText("stored (leave empty to keep it)")
                elif entry.generate:
                    edit.setPlaceholderText(GENERATED)
                else:
                    edit.setPlaceholderText("secret value")
            else:
                edit.setText(values.get(entry.name, ""))
                if entry.default_value is not None:
                    edit.setPlaceholderText(f"default: {entry.default_value}")
            notes = [entry.description] if entry.description else []
            if entry.generate:
                notes.append("Generated at deploy when left empty; kept encrypted.")
            elif entry.secret:
                notes.append("Secret: stored encrypted, never shown again.")
            label = f"{entry.name} *" if entry.required else entry.name
            form.add(entry.name, label, edit, hint=" ".join(notes))
            self.edits[entry.name] = edit

    def values(self) -> tuple[dict[str, str], dict[str, str]]:
        """(plain env values, secret values); empty fields are left out."""
        plain: dict[str, str] = {}
        secret: dict[str, str] = {}
        for entry in self.entries:
            text = self.edits[entry.name].text()
            if text:
                (secret if _is_secret(entry) else plain)[entry.name] = text
        return plain, secret


class ConfigEditor(_Section):
    """A text editor per config slot, prefilled with the deployment's content or the
    slot's default."""

    empty_text = "The stack has no config files."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slots: list[ConfigSlot] = []
        self.edits: dict[str, QPlainTextEdit] = {}
        self._given: set[str] = set()

    def load(self, stack: Stack | None, values: Mapping[str, str]) -> None:
        self.slots = list(stack.config_slots) if stack is not None else []
        self.edits = {}
        self._given = {slot.name for slot in self.slots if slot.name in values}
        form = self._new_form(bool(self.slots))
        for slot in self.slots:
            edit = QPlainTextEdit()
            edit.setObjectName(f"config-{slot.name}")
            edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            edit.setPlainText(values.get(slot.name, slot.default_content or ""))
            edit.setMinimumHeight(120)
            hint = f"{slot.mount_path} ({slot.file_type})" + (
                f" · {slot.description}" if slot.description else ""
            )
            form.add(slot.name, f"{slot.name} *" if slot.required else slot.name, edit, hint=hint)
            self.edits[slot.name] = edit

    def values(self) -> dict[str, str]:
        """Contents that differ from the slot's default (or were set before)."""
        result: dict[str, str] = {}
        for slot in self.slots:
            text = self.edits[slot.name].toPlainText()
            if slot.name in self._given or text != (slot.default_content or ""):
                result[slot.name] = text
        return result
