"""Settings → Secrets: names, kinds and dates only; values are write-only (admins)."""

from __future__ import annotations

import uuid

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from podwarden.engine.security.rbac import Permissions
from podwarden.engine.services.secrets import SecretInfo
from podwarden.ui.context import UiContext
from podwarden.ui.dialogs.base import confirm
from podwarden.ui.dialogs.secrets import SecretDialog
from podwarden.ui.models.access import SecretsModel
from podwarden.ui.ops import run_op
from podwarden.ui.roles import allowed, guard, set_enabled
from podwarden.ui.views.settings.list_tab import ListTab


class SecretsTab(ListTab[uuid.UUID, SecretInfo]):
    watched = frozenset({"secrets"})

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, SecretsModel(), "secrets", stretch=2, parent=parent)
        self.model.setParent(self)

        self.new_button = QPushButton("New secret…")
        self.new_button.setObjectName("new-secret")
        self.replace_button = QPushButton("Replace value…")
        self.replace_button.setObjectName("replace-secret")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("delete-secret")
        manage = Permissions.SECRETS_MANAGE
        guard(self.new_button, ctx.actor, manage, tooltip="Store a new encrypted value")
        guard(self.replace_button, ctx.actor, manage, tooltip="Replace the selected secret's value")
        guard(self.delete_button, ctx.actor, manage, tooltip="Delete the selected secret")
        self.new_button.clicked.connect(lambda: self.open_dialog(None))
        self.replace_button.clicked.connect(lambda: self.open_dialog(self.selected))
        self.delete_button.clicked.connect(self.ask_delete)

        self.hidden_hint = QLabel(
            "Secrets are visible to admins only: their names reveal which credentials exist."
        )
        self.hidden_hint.setObjectName("admins-only")

        bar = QHBoxLayout()
        bar.addWidget(self.new_button)
        bar.addStretch(1)
        bar.addWidget(self.replace_button)
        bar.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.message)
        layout.addWidget(self.note)
        layout.addWidget(self.hidden_hint)
        layout.addWidget(self.table, 1)
        self.can_list = allowed(self.new_button)
        self.hidden_hint.setVisible(not self.can_list)
        self.table.setVisible(self.can_list)
        self._update_buttons()

    def reload(self) -> None:
        if not self.can_list:
            return
        run_op(
            self,
            lambda: self.engine.secrets.list_secrets(self.actor),
            on_success=self.model.replace,
            key="settings.secrets.load",
            progress_text="Loading secrets…",
        )

    def select(self, name: str) -> bool:
        return self.select_where(lambda s: s.name == name)

    def _update_buttons(self) -> None:
        chosen = self.selected is not None
        set_enabled(self.replace_button, chosen)
        set_enabled(self.delete_button, chosen)

    def open_dialog(self, existing: SecretInfo | None) -> None:
        dialog = SecretDialog(self.engine, self.actor, self, existing)
        verb = "Stored" if existing is None else "Replaced the value of"
        self._open(dialog, dialog.saved, lambda info: f"{verb} {info.name}.")

    def ask_delete(self) -> None:
        secret = self.selected
        if secret is None:
            return
        self.dialog = confirm(
            self,
            "Delete secret",
            f"Delete the secret “{secret.name}” ({secret.kind})? Whatever uses it stops working "
            "until you store it again. This cannot be undone.",
            lambda: self.delete(secret),
        )

    def delete(self, secret: SecretInfo) -> None:
        run_op(
            self,
            lambda: self.engine.secrets.delete_secret(self.actor, secret.name),
            on_success=lambda _r: self._done(f"Deleted {secret.name}."),
            on_failure=self._failed,
            key="settings.secrets.delete",
            progress_text=f"Deleting {secret.name}…",
        )
