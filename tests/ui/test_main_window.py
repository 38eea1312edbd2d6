"""The desktop shell, offscreen; and the PySide6 None-refcount regression guard."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from podwarden.ui.main_window import SECTIONS, MainWindow
from tests.conftest import TEST_KEY


def test_main_window_lists_every_section(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert [window.sidebar.item(i).text() for i in range(window.sidebar.count())] == list(SECTIONS)
    window.sidebar.setCurrentRow(SECTIONS.index("Settings"))
    assert window.pages.currentWidget().objectName() == "page-settings"
    window.show_database("embedded (/tmp/x)")
    window.show_user("alice", "admin")
    assert window.database_label.text() == "Database: embedded (/tmp/x)"
    assert window.user_label.text() == "alice (admin)"


class _Model(QAbstractTableModel):
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 10

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 3

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{index.row()},{index.column()}"
        return None  # every other role hands None back to Qt


def test_none_refcount_holds_steady_across_qt_calls(qtbot) -> None:
    """PySide6 6.12.0 on Python 3.11 drops a reference to None on each such call and
    aborts the interpreter after a few thousand (pyproject pins <6.12 there)."""
    model = _Model()
    table = QTableWidget(50, 4)
    qtbot.addWidget(table)
    index = model.index(1, 1)
    before = sys.getrefcount(None)
    for i in range(2000):
        model.itemData(index)  # C++ asks data() for many roles; most return None
        model.headerData(i % 3, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
        table.setItem(i % 50, i % 4, QTableWidgetItem(str(i)))
    drift = sys.getrefcount(None) - before
    if sys.version_info < (3, 12):
        assert abs(drift) < 200, f"None's refcount drifted by {drift}: a PySide6 with the 6.12.0 bug?"


@pytest.mark.timeout(120)
def test_desktop_starts_and_quits(database_url, tmp_path) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PODWARDEN_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "PODWARDEN_SECRET_KEY": TEST_KEY,
        "PODWARDEN_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "podwarden.app.gui", "--quit-when-ready"],
        env=env, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_desktop_reports_a_bad_setting_in_one_sentence(tmp_path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PODWARDEN_DATABASE_URL": "mysql://x@y/z",
           "PODWARDEN_SECRET_KEY": TEST_KEY, "PODWARDEN_DATA_DIR": str(tmp_path)}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "podwarden.app.gui", "--quit-when-ready"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    ours = [line for line in result.stderr.splitlines() if line.startswith("podwarden")]
    assert ours == [
        "podwarden: PODWARDEN_DATABASE_URL uses 'mysql', but PodWarden needs PostgreSQL "
        "(postgresql://user:password@host:5432/podwarden)."
    ]
    assert "Traceback" not in result.stderr


def test_the_status_bar_never_shows_a_database_password(qtbot, tmp_path) -> None:
    from podwarden.engine import Engine, Settings

    url = "postgresql://alice:hunter2-secret@db.example:5432/podwarden"
    engine = Engine(Settings(database_url=url, secret_key=TEST_KEY, data_dir=tmp_path))  # never opened
    window = MainWindow()
    qtbot.addWidget(window)
    window.show_database(engine.database_mode)
    assert window.database_label.text() == "Database: shared postgresql://alice@db.example:5432/podwarden"
