"""Settings: users, secrets, Tailscale and registry defaults, one tab each."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from podwarden.ui.context import UiContext
from podwarden.ui.views.base import View
from podwarden.ui.views.settings.forms import RegistryTab, TailscaleTab
from podwarden.ui.views.settings.secrets import SecretsTab
from podwarden.ui.views.settings.users import UsersTab


class SettingsView(View):
    """Holds the tabs; each tab is a view of its own (own tables, own change notices)."""

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setObjectName("page-settings")
        self.users = UsersTab(ctx)
        self.secrets = SecretsTab(ctx)
        self.tailscale = TailscaleTab(ctx)
        self.registry = RegistryTab(ctx)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("settings-tabs")
        self.tabs.addTab(self.users, "Users")
        self.tabs.addTab(self.secrets, "Secrets")
        self.tabs.addTab(self.tailscale, "Tailscale")
        self.tabs.addTab(self.registry, "Registry defaults")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)

    @property
    def tab_views(self) -> list[View]:
        return [self.users, self.secrets, self.tailscale, self.registry]

    def reload(self) -> None:
        for tab in self.tab_views:
            tab.reload()
