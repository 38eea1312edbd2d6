"""A table of :class:`RowsEditModel` rows with Add/Remove buttons, a combo box for the
choice columns, and the table's error line under it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from podwarden.ui.views.stack_editor.rows import FieldSpec, Index, RowsEditModel
from podwarden.ui.widgets.form import ERROR_STYLE


class ChoiceDelegate(QStyledItemDelegate):
    """A combo box for the choice columns; plain line edits for the others."""

    def __init__(self, model: RowsEditModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows_model = model

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        spec = self.rows_model.specs[index.column()]
        if spec.kind != "choice":
            return super().createEditor(parent, option, index)
        combo = QComboBox(parent)
        combo.addItems(list(spec.choices))
        return combo

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        if isinstance(editor, QComboBox):
            editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole) or ""))
        else:
            super().setEditorData(editor, index)

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
        else:
            super().setModelData(editor, model, index)


class RowsEditor(QWidget):
    """A table with Add/Remove buttons and the table's error line.

    ``locate`` maps the rest of an error path (``"1.container_port"``) to a (row, key);
    the default reads a row number and a field name.
    """

    def __init__(
        self,
        name: str,
        specs: Sequence[FieldSpec],
        *,
        add_text: str = "Add",
        hint: str = "",
        extra: Sequence[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.model = RowsEditModel(specs, self, extra=extra)
        self.table = QTableView()
        self.table.setObjectName(f"{name}-table")
        self.table.setModel(self.model)
        self.table.setItemDelegate(ChoiceDelegate(self.model, self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.table.verticalHeader().setVisible(False)
        metrics = self.table.fontMetrics()
        header = self.table.horizontalHeader()
        for i, spec in enumerate(specs):
            header.resizeSection(i, metrics.averageCharWidth() * (spec.width or len(spec.title) + 4) + 16)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.add_button = QPushButton(add_text)
        self.add_button.setObjectName(f"{name}-add")
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName(f"{name}-remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.error_label = QLabel()
        self.error_label.setObjectName(f"error-{name}")
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        buttons = QHBoxLayout()
        if hint:
            hint_label = QLabel(hint)
            hint_label.setStyleSheet("color: palette(mid);")
            hint_label.setWordWrap(True)
            buttons.addWidget(hint_label, 1)
        else:
            buttons.addStretch(1)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.error_label)

    def add(self) -> int:
        row = self.model.add_row()
        self.table.selectRow(row)
        return row

    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def remove_selected(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.model.remove_row(row)

    def set_read_only(self, read_only: bool) -> None:
        self.model.read_only = read_only
        self.add_button.setEnabled(not read_only)
        self.remove_button.setEnabled(not read_only)

    def locate(self, rest: str) -> tuple[int, str] | None:
        head, _, key = rest.partition(".")
        if not head.isdigit():
            return None
        key = key.split(".", 1)[0] or self.model.specs[0].key
        if key not in {spec.key for spec in self.model.specs}:
            key = self.model.specs[0].key
        return int(head), key

    def show_errors(self, errors: Mapping[str, str]) -> None:
        """``errors``: the rest of the path after the list's name → message ('' = the list)."""
        cells: dict[tuple[int, str], str] = {}
        lines: list[str] = []
        titles = {spec.key: spec.title for spec in self.model.specs}
        for rest, message in errors.items():
            where = self.locate(rest) if rest else None
            if where is None:
                lines.append(message if not rest else f"{rest}: {message}")
                continue
            cells[where] = message
            lines.append(f"row {where[0] + 1}, {titles.get(where[1], where[1]).lower()}: {message}")
        self.model.set_errors(cells)
        self.error_label.setText("\n".join(lines))
        self.error_label.setVisible(bool(lines))

    def clear_errors(self) -> None:
        self.show_errors({})
