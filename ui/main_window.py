"""The main window: a sidebar of sections, the views of a signed-in session, a status bar
(database mode, busy indicator, signed-in user) and the error panel docked at the bottom.

The window exists before the engine (it paints first): this module imports
nothing of the engine, and the views (which do) load when a session opens
(:meth:`MainWindow.open_session`); they are torn down on sign-out.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from podwarden.ui.error_panel import ErrorDock
from podwarden.ui.ops import OpRunner
from podwarden.ui.widgets.busy import BusyIndicator
from podwarden.ui.widgets.placeholder import placeholder

if TYPE_CHECKING:
    from podwarden.ui.context import UiContext
    from podwarden.ui.views.base import View

SECTIONS = (
    "Dashboard",
    "Hosts",
    "Clusters",
    "Stacks",
    "Deployments",
    "Jobs",
    "Ingress",
    "Backups",
    "Storage",
    "DDNS",
    "Hub",
    "Settings",
)

#: Sections whose views exist now; the others are placeholders until their engine services land.
SESSION_SECTIONS = ("Dashboard", "Hosts", "Clusters", "Stacks", "Deployments", "Jobs", "Settings")

_LATER = {
    "Hosts": "Arrives with the hosts service (discovery, probing, provisioning).",
    "Clusters": "Arrives with the clusters service.",
    "Stacks": "Arrives with the stacks service (the stack editor).",
    "Deployments": "Arrives with the deployments service.",
    "Ingress": "Arrives with ingress rules.",
    "Backups": "Arrives with backup policies.",
    "Storage": "Arrives with storage connections.",
    "DDNS": "Arrives with dynamic DNS.",
    "Hub": "Arrives with the Hub catalog.",
}


def _placeholder_text(name: str) -> str:
    if name in SESSION_SECTIONS:
        return "Sign in to see this view."
    return _LATER.get(name, "This view arrives with its engine features.")


class MainWindow(QMainWindow):
    sign_out_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("PodWarden")
        self.resize(1200, 760)
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFixedWidth(180)
        self.sidebar.setStyleSheet(
            "QListWidget#sidebar { font-size: 14px; border: none; }"
            "QListWidget#sidebar::item { padding: 7px 14px; }"
        )
        self.pages = QStackedWidget()
        for name in SECTIONS:
            self.sidebar.addItem(name)
            self.pages.addWidget(placeholder(name, _placeholder_text(name)))
        self.sidebar.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.sidebar.setCurrentRow(0)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.error_dock = ErrorDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.error_dock)
        self.op_runner = OpRunner(self.error_dock.panel, self)

        self.database_label = QLabel("Database: starting…")
        self.busy = BusyIndicator()
        self.user_label = QLabel("Not signed in")
        self.user_label.setObjectName("user")
        self.statusBar().addWidget(self.database_label, 1)
        self.statusBar().addPermanentWidget(self.busy)
        self.statusBar().addPermanentWidget(self.user_label)
        self.op_runner.busy_changed.connect(self.busy.set_busy)

        self.sign_out_action = QAction("Sign out", self)
        self.sign_out_action.setObjectName("sign-out")
        self.sign_out_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.sign_out_action.setEnabled(False)
        self.sign_out_action.triggered.connect(self.sign_out_requested)
        self.quit_action = QAction("Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)
        menu = self.menuBar().addMenu("&PodWarden")
        menu.addAction(self.sign_out_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)

        self.ctx: UiContext | None = None
        self.views: dict[str, View] = {}

    # -- status bar -------------------------------------------------------------------------
    def show_database(self, mode: str) -> None:
        self.database_label.setText(f"Database: {mode}")

    def show_user(self, name: str | None, role: str | None) -> None:
        self.user_label.setText(f"{name} ({role})" if name else "Not signed in")

    # -- sections ---------------------------------------------------------------------------
    def page(self, name: str) -> QWidget:
        widget = self.pages.widget(SECTIONS.index(name))
        assert widget is not None
        return widget

    def select_section(self, name: str) -> None:
        self.sidebar.setCurrentRow(SECTIONS.index(name))

    def _set_page(self, name: str, widget: QWidget) -> None:
        index = SECTIONS.index(name)
        old = self.page(name)
        current = self.pages.currentIndex()
        self.pages.insertWidget(index, widget)
        self.pages.removeWidget(old)
        old.deleteLater()
        self.pages.setCurrentIndex(current)

    # -- session ----------------------------------------------------------------------------
    def open_session(self, ctx: UiContext) -> None:
        """Build the views for a signed-in actor and start loading them."""
        from podwarden.ui.views.clusters import ClustersView
        from podwarden.ui.views.dashboard import DashboardView
        from podwarden.ui.views.deployments import DeploymentsView
        from podwarden.ui.views.hosts import HostsView
        from podwarden.ui.views.jobs import JobsView
        from podwarden.ui.views.settings import SettingsView
        from podwarden.ui.views.stacks import StacksView

        self.close_session()
        self.ctx = ctx
        self.views = {
            "Dashboard": DashboardView(ctx),
            "Hosts": HostsView(ctx),
            "Clusters": ClustersView(ctx),
            "Stacks": StacksView(ctx),
            "Deployments": DeploymentsView(ctx),
            "Jobs": JobsView(ctx),
            "Settings": SettingsView(ctx),
        }
        for name, view in self.views.items():
            self._set_page(name, view)
        deployments = self.views["Deployments"]
        assert isinstance(deployments, DeploymentsView)
        deployments.open_job_requested.connect(self.show_job)
        self.show_user(ctx.actor.name, ctx.actor.role.value)
        self.sign_out_action.setEnabled(True)
        for view in self.views.values():
            view.start()

    def show_job(self, job_id: uuid.UUID) -> None:
        """Switch to Jobs with ``job_id`` selected (once it is loaded)."""
        from podwarden.ui.views.jobs import JobsView

        jobs = self.views.get("Jobs")
        if isinstance(jobs, JobsView):
            self.select_section("Jobs")
            jobs.show_job(job_id)

    def close_session(self) -> None:
        """Back to the signed-out window: placeholders, no user."""
        if self.ctx is None:
            return
        for name in self.views:
            self._set_page(name, placeholder(name, _placeholder_text(name)))
        self.views = {}
        self.ctx = None
        self.show_user(None, None)
        self.sign_out_action.setEnabled(False)
