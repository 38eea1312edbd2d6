"""Settings → Tailscale and Registry defaults: forms that save whole or not at all.

The engine validates the merged document before it writes anything; its
ValidationError lands at the fields. A change made elsewhere reloads the form,
unless it has unsaved edits (then a note says so and Revert loads the new values).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from podwarden.engine.security.rbac import Permissions
from podwarden.engine.services.config import FleetSettings, SystemConfigDoc, TailscaleConfig
from podwarden.ui.context import UiContext
from podwarden.ui.dialogs.common import text_field
from podwarden.ui.ops import run_op
from podwarden.ui.roles import allowed, guard
from podwarden.ui.views.base import View
from podwarden.ui.widgets.form import Form


class FormTab(View):
    """Save/Revert buttons, dirty tracking and the "changed elsewhere" note."""

    intro = ""

    def __init__(self, ctx: UiContext, *, prefix: str = "", parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.form = Form(prefix=prefix)
        self.dirty = False
        self._filling = False
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("save")
        self.revert_button = QPushButton("Revert")
        self.revert_button.setObjectName("revert")
        self.revert_button.setToolTip("Load the saved values again")
        guard(self.save_button, ctx.actor, Permissions.SETTINGS_MANAGE, tooltip="Save these settings")
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.reload)
        self.elsewhere = QLabel()
        self.elsewhere.setObjectName("changed-elsewhere")
        self.elsewhere.setStyleSheet("color: #9a6700;")
        self.elsewhere.setVisible(False)

    def build(self) -> None:
        """Lay out (after the subclass added its fields)."""
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        if self.intro:
            intro = QLabel(self.intro)
            intro.setWordWrap(True)
            layout.addWidget(intro)
        if not allowed(self.save_button):
            hint = QLabel("Only admins can change these settings; you see them read-only.")
            hint.setObjectName("read-only-hint")
            layout.addWidget(hint)
        layout.addWidget(self.form)
        layout.addWidget(self.elsewhere)
        layout.addLayout(buttons)
        layout.addStretch(1)
        if not allowed(self.save_button):
            for widget in self.form.fields.values():
                widget.setEnabled(False)

    def track(self, *widgets: QWidget) -> None:
        for widget in widgets:
            if isinstance(widget, QLineEdit):
                widget.textEdited.connect(self._edited)
            elif isinstance(widget, QComboBox):
                widget.currentTextChanged.connect(self._edited)
            elif isinstance(widget, QCheckBox):
                widget.toggled.connect(self._edited)

    def _edited(self, *_args: object) -> None:
        if not self._filling:
            self.dirty = True

    def on_change(self, table: str, ids: tuple[str, ...] | None) -> None:
        if self.dirty:
            self.elsewhere.setText("Someone changed these settings meanwhile; Revert loads their values.")
            self.elsewhere.setVisible(True)
        else:
            self.reload()

    def loaded(self) -> None:
        self.dirty = False
        self.elsewhere.setVisible(False)

    def save(self) -> None:
        raise NotImplementedError


def _secret_combo(name: str) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setEditable(True)
    combo.setPlaceholderText("none")
    return combo


def _optional(text: str) -> str | None:
    text = text.strip()
    return text or None


class TailscaleTab(FormTab):
    watched = frozenset({"system_config", "secrets"})
    intro = (
        "PodWarden reads your tailnet's devices through the Tailscale API to discover hosts. "
        "Credentials live in Secrets; here you name the secret that holds them."
    )

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, prefix="tailscale.", parent=parent)
        self.setObjectName("settings-tailscale")
        self.version: int | None = None
        self.enabled = QCheckBox("Use the Tailscale API")
        self.enabled.setObjectName("enabled")
        self.tailnet = text_field("tailnet", "- (the API key's own tailnet) or example.com")
        self.api_url = text_field("api_url", "https://api.tailscale.com")
        self.auth = QComboBox()
        self.auth.setObjectName("auth")
        self.auth.addItem("API key", "api_key")
        self.auth.addItem("OAuth client", "oauth")
        self.api_key_secret = _secret_combo("api_key_secret")
        self.oauth_client_id = text_field("oauth_client_id")
        self.oauth_client_secret_secret = _secret_combo("oauth_client_secret_secret")
        f = self.form
        f.add("enabled", "", self.enabled)
        f.add("tailnet", "Tailnet", self.tailnet)
        f.add("api_url", "API URL", self.api_url)
        f.add("auth", "Authentication", self.auth)
        f.add("api_key_secret", "API key secret", self.api_key_secret, hint="the secret holding the API key")
        f.add("oauth_client_id", "OAuth client id", self.oauth_client_id)
        f.add("oauth_client_secret_secret", "OAuth secret", self.oauth_client_secret_secret)
        self.track(*f.fields.values())
        self.auth.currentIndexChanged.connect(self._auth_changed)
        self.build()

    def _auth_changed(self, _index: int = 0) -> None:
        oauth = self.auth.currentData() == "oauth"
        writable = allowed(self.save_button)
        self.api_key_secret.setEnabled(writable and not oauth)
        self.oauth_client_id.setEnabled(writable and oauth)
        self.oauth_client_secret_secret.setEnabled(writable and oauth)

    def reload(self) -> None:
        actor, engine = self.actor, self.engine
        names_allowed = actor.can(Permissions.SECRETS_MANAGE)

        async def load() -> tuple[SystemConfigDoc, int, list[str]]:
            doc, version = await engine.config.get_system_config(actor)
            names = [s.name for s in await engine.secrets.list_secrets(actor)] if names_allowed else []
            return doc, version, names

        run_op(self, load, on_success=self._fill, key="settings.tailscale.load", progress_text="Loading…")

    def _fill(self, result: tuple[SystemConfigDoc, int, list[str]]) -> None:
        doc, version, names = result
        ts: TailscaleConfig = doc.tailscale
        self._filling = True
        try:
            self.version = version
            self.enabled.setChecked(ts.enabled)
            self.tailnet.setText(ts.tailnet)
            self.api_url.setText(ts.api_url)
            self.auth.setCurrentIndex(max(0, self.auth.findData(ts.auth)))
            for combo, value in (
                (self.api_key_secret, ts.api_key_secret),
                (self.oauth_client_secret_secret, ts.oauth_client_secret_secret),
            ):
                combo.clear()
                combo.addItems(sorted(set(names) | ({value} if value else set())))
                combo.setCurrentText(value or "")
                if not value:
                    combo.setCurrentIndex(-1)
            self.oauth_client_id.setText(ts.oauth_client_id)
            self._auth_changed()
        finally:
            self._filling = False
        self.form.clear_errors()
        self.loaded()

    def values(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled.isChecked(),
            "tailnet": self.tailnet.text().strip(),
            "api_url": self.api_url.text().strip(),
            "auth": self.auth.currentData(),
            "api_key_secret": _optional(self.api_key_secret.currentText()),
            "oauth_client_id": self.oauth_client_id.text().strip(),
            "oauth_client_secret_secret": _optional(self.oauth_client_secret_secret.currentText()),
        }

    def save(self) -> None:
        self.form.clear_errors()
        values, version = self.values(), self.version
        run_op(
            self,
            lambda: self.engine.config.update_system_config(
                self.actor, {"tailscale": values}, expected_version=version
            ),
            on_success=self._saved,
            on_failure=self.form.show_error,
            key="settings.tailscale.save",
            progress_text="Saving Tailscale settings…",
        )

    def _saved(self, result: tuple[SystemConfigDoc, int]) -> None:
        doc, version = result
        names = [self.api_key_secret.itemText(i) for i in range(self.api_key_secret.count())]
        self._fill((doc, version, names))
        self.form.show_note("Saved.")


class RegistryTab(FormTab):
    watched = frozenset({"settings"})
    intro = "Defaults for stacks whose image names no registry or tag."

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent=parent)
        self.setObjectName("settings-registry")
        self.registry_url = text_field("default_registry_url", "e.g. ghcr.io/acme (empty: Docker Hub)")
        self.image_tag = text_field("default_image_tag", "latest")
        self.form.add("default_registry_url", "Default registry", self.registry_url)
        self.form.add("default_image_tag", "Default image tag", self.image_tag)
        self.track(self.registry_url, self.image_tag)
        self.build()

    def reload(self) -> None:
        run_op(
            self,
            lambda: self.engine.config.get_settings(self.actor),
            on_success=self._fill,
            key="settings.registry.load",
            progress_text="Loading…",
        )

    def _fill(self, settings: FleetSettings) -> None:
        self._filling = True
        try:
            self.registry_url.setText(settings.default_registry_url)
            self.image_tag.setText(settings.default_image_tag)
        finally:
            self._filling = False
        self.form.clear_errors()
        self.loaded()

    def values(self) -> dict[str, Any]:
        return {
            "default_registry_url": self.registry_url.text().strip(),
            "default_image_tag": self.image_tag.text().strip(),
        }

    def save(self) -> None:
        self.form.clear_errors()
        values = self.values()
        run_op(
            self,
            lambda: self.engine.config.update_settings(self.actor, values),
            on_success=self._saved,
            on_failure=self.form.show_error,
            key="settings.registry.save",
            progress_text="Saving registry defaults…",
        )

    def _saved(self, settings: FleetSettings) -> None:
        self._fill(settings)
        self.form.show_note("Saved.")
