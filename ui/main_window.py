"""The main window: a sidebar of sections and a status bar (database mode, signed-in user)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

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


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("PodWarden")
        self.resize(1200, 760)
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFixedWidth(180)
        self.pages = QStackedWidget()
        for name in SECTIONS:
            self.sidebar.addItem(name)
            page = QLabel(f"{name}\n\nThis view arrives with its engine features.")
            page.setObjectName(f"page-{name.lower()}")
            page.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.pages.addWidget(page)
        self.sidebar.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.sidebar.setCurrentRow(0)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.database_label = QLabel("Database: starting…")
        self.user_label = QLabel("Not signed in")
        self.statusBar().addWidget(self.database_label, 1)
        self.statusBar().addPermanentWidget(self.user_label)

    def show_database(self, mode: str) -> None:
        self.database_label.setText(f"Database: {mode}")

    def show_user(self, name: str | None, role: str | None) -> None:
        self.user_label.setText(f"{name} ({role})" if name else "Not signed in")
