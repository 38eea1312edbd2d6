"""A read-only, row-selecting table view sized from its model's columns."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from podwarden.ui.models.table import RowsModel


def table_view(
    model: QAbstractItemModel, name: str, *, stretch: int = 0, parent: QWidget | None = None
) -> QTableView:
    """Rows select whole, one at a time; no editing, no sorting (the engine orders rows);
    column widths come from ``Column.width`` (characters); column ``stretch`` takes the rest."""
    table = QTableView(parent)
    table.setObjectName(name)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSortingEnabled(False)
    table.setWordWrap(False)
    table.setAlternatingRowColors(True)
    metrics = table.fontMetrics()
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(metrics.height() + 10)
    header = table.horizontalHeader()
    header.setHighlightSections(False)
    if isinstance(model, RowsModel):
        for index, column in enumerate(model.columns):
            if column.width:
                header.resizeSection(index, metrics.averageCharWidth() * column.width + 24)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return table


def select_key(table: QTableView, model: RowsModel[Any, Any], key: Hashable) -> bool:
    """Select the row holding ``key``; False when the model does not hold it (yet)."""
    row = model.row_of(key)
    if row is None:
        return False
    table.selectRow(row)
    return True
