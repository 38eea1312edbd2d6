"""Editable tables of a stack's list fields (ports, env, env schema, node selector, config
slots, volumes): one :class:`RowsEditModel` per list, described by :class:`FieldSpec`\\ s.

The table widget around a model is :class:`~podwarden.ui.views.stack_editor.table.RowsEditor`.

Rows are plain dicts of what the person typed (text stays text): :meth:`RowsEditModel.items`
turns them into the document the engine validates, so a bad number reaches the engine as
text and comes back as a ValidationError at its cell. Errors are shown in the cell (red
background, message as tooltip). ``data()`` returns None for every role it does not
handle (the PySide6 None-refcount guard).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor

Index = QModelIndex | QPersistentModelIndex
Row = dict[str, Any]
Kind = Literal["text", "int", "bool", "choice"]
_ROOT = QModelIndex()
_INT = re.compile(r"[+-]?[0-9]+")
ERROR_BACKGROUND = "#f8d7da"
NOT_APPLICABLE = "#e6e5e3"  # background of cells that do not apply to the row


@dataclass(frozen=True)
class FieldSpec:
    """One column: ``key`` is the document's field name."""

    key: str
    title: str
    kind: Kind = "text"
    choices: tuple[str, ...] = ()
    #: Empty text is left out of the document (the engine's default, or "is required").
    default: Any = ""
    #: Whether the field belongs to a row (volumes: depends on the type); None: always.
    applies: Callable[[Row], bool] | None = None
    width: int = 0  # characters
    tooltip: str = ""

    def applies_to(self, row: Row) -> bool:
        return self.applies is None or self.applies(row)


def to_document_value(spec: FieldSpec, raw: Any) -> tuple[bool, Any]:
    """(present, value) for the document: ints stay text when they are not numbers."""
    if spec.kind == "bool":
        return True, bool(raw)
    text = "" if raw is None else str(raw)
    if text.strip() == "":
        return False, None
    if spec.kind == "int" and _INT.fullmatch(text.strip()):
        return True, int(text.strip())
    return True, text


def from_document_value(spec: FieldSpec, value: Any) -> Any:
    if spec.kind == "bool":
        return bool(value) if value is not None else bool(spec.default)
    return "" if value is None else str(value)


class RowsEditModel(QAbstractTableModel):
    """A list of dict rows edited in place; ``changed`` fires on every edit."""

    changed = Signal()

    def __init__(
        self, specs: Sequence[FieldSpec], parent: QObject | None = None, *, extra: Sequence[str] = ()
    ) -> None:
        super().__init__(parent)
        self.specs = list(specs)
        #: Fields kept in the rows without a column (edited elsewhere); None is left out.
        self.extra = tuple(extra)
        self.rows: list[Row] = []
        self.read_only = False
        self._errors: dict[tuple[int, str], str] = {}

    # -- Qt interface -----------------------------------------------------------------------
    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.specs)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows) or index.column() >= len(self.specs):
            return None
        row, spec = self.rows[index.row()], self.specs[index.column()]
        applies = spec.applies_to(row)
        error = self._errors.get((index.row(), spec.key))
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if spec.kind == "bool":
                return None  # shown by its check box
            if not applies:
                return "" if role == Qt.ItemDataRole.EditRole else None
            return str(row.get(spec.key, ""))
        if role == Qt.ItemDataRole.CheckStateRole and spec.kind == "bool" and applies:
            checked = bool(row.get(spec.key, spec.default))
            return Qt.CheckState.Checked.value if checked else Qt.CheckState.Unchecked.value
        if role == Qt.ItemDataRole.BackgroundRole:
            if error is not None:
                return QBrush(QColor(ERROR_BACKGROUND))
            return None if applies else QBrush(QColor(NOT_APPLICABLE))
        if role == Qt.ItemDataRole.ToolTipRole:
            if error is not None:
                return error
            if not applies:
                return f"Not used by this {self.rows[index.row()].get('type', 'row')}"
            return spec.tooltip or None
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.specs):
            if role == Qt.ItemDataRole.DisplayRole:
                return self.specs[section].title
            if role == Qt.ItemDataRole.ToolTipRole and self.specs[section].tooltip:
                return self.specs[section].tooltip
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid() or index.row() >= len(self.rows):
            return Qt.ItemFlag.NoItemFlags
        spec = self.specs[index.column()]
        flags = Qt.ItemFlag.ItemIsSelectable
        if not spec.applies_to(self.rows[index.row()]):
            return flags
        flags |= Qt.ItemFlag.ItemIsEnabled
        if self.read_only:
            return flags
        if spec.kind == "bool":
            return flags | Qt.ItemFlag.ItemIsUserCheckable
        return flags | Qt.ItemFlag.ItemIsEditable

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or index.row() >= len(self.rows) or self.read_only:
            return False
        spec = self.specs[index.column()]
        if spec.kind == "bool" and role == Qt.ItemDataRole.CheckStateRole:
            state = value.value if isinstance(value, Qt.CheckState) else value
            new: Any = state == Qt.CheckState.Checked.value
        elif spec.kind != "bool" and role == Qt.ItemDataRole.EditRole:
            new = "" if value is None else str(value)
        else:
            return False
        self.set_value(index.row(), spec.key, new)
        return True

    # -- rows -------------------------------------------------------------------------------
    def column_of(self, key: str) -> int:
        return next(i for i, spec in enumerate(self.specs) if spec.key == key)

    def set_value(self, row: int, key: str, value: Any) -> None:
        """Set one field (what typing in the cell does); clears that cell's error."""
        self.rows[row][key] = value
        self._errors.pop((row, key), None)
        if key == "type":  # volumes: which cells apply changed
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.specs) - 1))
        else:
            cell = self.index(row, self.column_of(key))
            self.dataChanged.emit(cell, cell)
        self.changed.emit()

    def blank(self) -> Row:
        row: Row = {spec.key: spec.default for spec in self.specs}
        row.update(dict.fromkeys(self.extra))
        return row

    def add_row(self, values: Mapping[str, Any] | None = None) -> int:
        row = self.blank()
        row.update(values or {})
        position = len(self.rows)
        self.beginInsertRows(_ROOT, position, position)
        self.rows.append(row)
        self.endInsertRows()
        self.changed.emit()
        return position

    def remove_row(self, position: int) -> None:
        if not 0 <= position < len(self.rows):
            return
        self.beginRemoveRows(_ROOT, position, position)
        del self.rows[position]
        self._errors = {(r - (r > position), k): m for (r, k), m in self._errors.items() if r != position}
        self.endRemoveRows()
        self.changed.emit()

    def set_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Show the document's list (each item: field → value)."""
        self.beginResetModel()
        self._errors = {}
        self.rows = []
        for item in items:
            row = self.blank()
            for spec in self.specs:
                if spec.key in item:
                    row[spec.key] = from_document_value(spec, item[spec.key])
            for key in self.extra:
                row[key] = item.get(key)
            self.rows.append(row)
        self.endResetModel()

    def items(self) -> list[dict[str, Any]]:
        """The document's list: only the fields that apply, empty optional text left out."""
        out: list[dict[str, Any]] = []
        for row in self.rows:
            item: dict[str, Any] = {}
            for spec in self.specs:
                if not spec.applies_to(row):
                    continue
                present, value = to_document_value(spec, row.get(spec.key))
                if present:
                    item[spec.key] = value
            for key in self.extra:
                if row.get(key) is not None:
                    item[key] = row[key]
            out.append(item)
        return out

    # -- errors -----------------------------------------------------------------------------
    def set_errors(self, errors: Mapping[tuple[int, str], str]) -> None:
        self._errors = {(r, k): m for (r, k), m in errors.items() if 0 <= r < len(self.rows)}
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(self.specs) - 1))

    def error(self, row: int, key: str) -> str:
        """The error shown in a cell ('' when none)."""
        return self._errors.get((row, key), "")

    @property
    def errors(self) -> dict[tuple[int, str], str]:
        return dict(self._errors)
