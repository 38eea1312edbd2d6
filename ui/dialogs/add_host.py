"""Add a host by hand: name or address, SSH settings, and an optional private key.

The key goes into a password-style field (echo off) and is cleared when the
dialog closes. The engine validates everything before it writes, in one unit
of work: a refused form saves nothing, and its errors show at their fields.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QLabel, QPlainTextEdit, QSpinBox, QVBoxLayout, QWidget

from podwarden.engine import Actor, Engine
from podwarden.engine.services.hosts import HostInfo
from podwarden.ui.dialogs.common import Buttons, clear_secret_fields, password_field, text_field
from podwarden.ui.ops import run_op
from podwarden.ui.widgets.form import Form

_PEM = re.compile(r"^\s*(-----BEGIN [A-Z0-9 ]+-----)\s*(.*?)\s*(-----END [A-Z0-9 ]+-----)\s*$", re.DOTALL)


def restore_key_lines(text: str) -> str:
    """A one-line field turns a pasted key's line breaks into spaces; put them back.

    Base64 holds no spaces, so the body's whitespace-separated words are its lines.
    Text that is not a PEM/OpenSSH block is returned unchanged (the engine judges it).
    """
    match = _PEM.match(text)
    if match is None:
        return text
    head, body, tail = match.groups()
    return "\n".join([head, *body.split(), tail]) + "\n"


class AddHostDialog(QDialog):
    created = Signal(object)  # HostInfo

    def __init__(self, engine: Engine, actor: Actor, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("add-host")
        self.setWindowTitle("Add host")
        self.engine, self.actor = engine, actor
        self.created_host: HostInfo | None = None
        self.form = Form()
        self.hostname = text_field("hostname", "gpu-01.lan or 192.168.1.20")
        self.ssh_address = text_field("ssh_address", "optional: defaults to the host name")
        self.ssh_port = QSpinBox()
        self.ssh_port.setObjectName("ssh_port")
        self.ssh_port.setRange(0, 65535)  # 0 lets the engine say what is wrong
        self.ssh_port.setValue(22)
        self.ssh_user = text_field("ssh_user", text="root")
        self.key = password_field("ssh_private_key", "optional: paste a private key; empty = ssh-agent")
        self.notes = QPlainTextEdit()
        self.notes.setObjectName("notes")
        self.notes.setMaximumHeight(70)
        self.form.add("hostname", "Host name or IP", self.hostname)
        self.form.add("ssh_address", "SSH address", self.ssh_address)
        self.form.add("ssh_port", "SSH port", self.ssh_port)
        self.form.add("ssh_user", "SSH user", self.ssh_user)
        self.form.add(
            "ssh_private_key",
            "SSH private key",
            self.key,
            hint="Stored encrypted; never shown again. Leave empty to use the local ssh-agent.",
        )
        self.form.add("notes", "Notes", self.notes)
        self.buttons = Buttons(self, "Add host")
        self.buttons.ok.clicked.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel("A machine PodWarden reaches over SSH (Tailscale hosts arrive by discovery).")
        )
        layout.addWidget(self.form)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(480)

    def submit(self) -> None:
        self.form.clear_errors()
        hostname = self.hostname.text().strip()
        address = self.ssh_address.text().strip() or None
        port, user = self.ssh_port.value(), self.ssh_user.text().strip()
        key_text = self.key.text()
        key = restore_key_lines(key_text) if key_text.strip() else None
        notes = self.notes.toPlainText()
        self.buttons.set_busy(True)
        run_op(
            self,
            lambda: self.engine.hosts.add_manual_host(
                self.actor,
                hostname=hostname,
                ssh_address=address,
                ssh_port=port,
                ssh_user=user,
                ssh_private_key=key,
                notes=notes,
            ),
            on_success=self._created,
            on_failure=self._failed,
            key="hosts.add",
            progress_text=f"Adding {hostname or 'a host'}…",
        )

    def _created(self, host: HostInfo) -> None:
        clear_secret_fields(self.key)
        self.buttons.set_busy(False)
        self.created_host = host
        self.created.emit(host)
        self.accept()

    def _failed(self, error: BaseException) -> bool:
        self.buttons.set_busy(False)
        return self.form.show_error(error)

    def done(self, result: int) -> None:
        clear_secret_fields(self.key)
        super().done(result)
