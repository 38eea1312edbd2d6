"""Table models that hold ids and the engine's rows for them (after Anki's browser model).

:class:`RowsModel` keeps the ids in the engine's order plus one row object per id;
it updates in place when the ids stay the same (selection survives a refresh)
and resets otherwise. :class:`PagedRowsModel` adds paging: it starts with one
page and asks the engine for the next when the view scrolls near the end
(``canFetchMore``/``fetchMore``); change notices refresh only the rows they name.

Sorting and filtering are the engine's (SQL); never wrap these in a
QSortFilterProxyModel. ``data()`` does not catch exceptions: a bug shows up
(pytest-qt fails the test) instead of an empty cell.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from podwarden.ui.ops import run_op

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

Index = QModelIndex | QPersistentModelIndex
KEY_ROLE = Qt.ItemDataRole.UserRole
_ROOT = QModelIndex()


@dataclass(frozen=True)
class Column(Generic[R]):
    title: str
    text: Callable[[R], str]
    tooltip: Callable[[R], str] | None = None
    color: Callable[[R], str | None] | None = None  # a colour name for the text
    align_right: bool = False
    width: int = 0  # characters; 0: the view's default


class RowsModel(QAbstractTableModel, Generic[K, R]):
    def __init__(
        self, columns: Sequence[Column[R]], key: Callable[[R], K], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.key_of = key
        self._ids: list[K] = []
        self._rows: dict[K, R] = {}
        self._positions: dict[K, int] = {}

    # -- Qt interface -----------------------------------------------------------------------
    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        key = self._ids[index.row()]
        if role == KEY_ROLE:
            return key
        row = self._rows[key]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(row)
        if role == Qt.ItemDataRole.ForegroundRole and column.color is not None:
            name = column.color(row)
            return QBrush(QColor(name)) if name else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.columns)
        ):
            return self.columns[section].title
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- ids and rows -----------------------------------------------------------------------
    @property
    def keys(self) -> list[K]:
        return list(self._ids)

    def key_at(self, row: int) -> K:
        return self._ids[row]

    def row_of(self, key: K) -> int | None:
        return self._positions.get(key)

    def get(self, key: K) -> R | None:
        return self._rows.get(key)

    def row_at(self, row: int) -> R:
        return self._rows[self._ids[row]]

    def replace(self, rows: Iterable[R]) -> None:
        """Show exactly ``rows``: in place when the ids are unchanged, else a reset."""
        rows = list(rows)
        ids = [self.key_of(r) for r in rows]
        if ids == self._ids:
            self._rows = dict(zip(ids, rows, strict=True))
            self._changed_all()
            return
        self.beginResetModel()
        self._ids = ids
        self._rows = dict(zip(ids, rows, strict=True))
        self._reindex()
        self.endResetModel()

    def update(self, rows: Iterable[R]) -> None:
        """New data for rows already shown (others are ignored)."""
        for row in rows:
            key = self.key_of(row)
            position = self._positions.get(key)
            if position is not None:
                self._rows[key] = row
                self.dataChanged.emit(self.index(position, 0), self.index(position, len(self.columns) - 1))

    def prepend(self, rows: Sequence[R]) -> None:
        fresh = [r for r in rows if self.key_of(r) not in self._positions]
        if not fresh:
            return
        self.beginInsertRows(_ROOT, 0, len(fresh) - 1)
        self._ids[:0] = [self.key_of(r) for r in fresh]
        self._rows.update((self.key_of(r), r) for r in fresh)
        self._reindex()
        self.endInsertRows()

    def append(self, rows: Sequence[R]) -> None:
        fresh = [r for r in rows if self.key_of(r) not in self._positions]
        if not fresh:
            return
        start = len(self._ids)
        self.beginInsertRows(_ROOT, start, start + len(fresh) - 1)
        self._ids.extend(self.key_of(r) for r in fresh)
        self._rows.update((self.key_of(r), r) for r in fresh)
        self._reindex()
        self.endInsertRows()

    def remove(self, key: K) -> None:
        position = self._positions.get(key)
        if position is None:
            return
        self.beginRemoveRows(_ROOT, position, position)
        del self._ids[position]
        del self._rows[key]
        self._reindex()
        self.endRemoveRows()

    def _reindex(self) -> None:
        self._positions = {k: i for i, k in enumerate(self._ids)}

    def _changed_all(self) -> None:
        if self._ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, len(self.columns) - 1))


PageLoader = Callable[[int, int], Awaitable[list[R]]]  # (offset, limit) -> rows
OneLoader = Callable[[K], Awaitable[R | None]]  # None: the row is gone


class PagedRowsModel(RowsModel[K, R]):
    """Loads rows a page at a time; refreshes single rows on change notices.

    The model's QObject parent must be a widget inside the main window: its
    loads are ops (progress, error panel, stale-request cancelling).
    """

    def __init__(
        self,
        columns: Sequence[Column[R]],
        key: Callable[[R], K],
        *,
        load_page: PageLoader[R],
        load_one: OneLoader[K, R],
        matches: Callable[[R], bool] | None = None,
        page_size: int = 100,
        name: str = "rows",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(columns, key, parent)
        self.load_page = load_page
        self.load_one = load_one
        self.matches = matches or (lambda _row: True)
        self.page_size = page_size
        self.name = name
        self.loaded_once = False
        self._more = False
        self._fetching = False
        self._dirty: set[K] = set()
        self._refreshing = False
        self._generation = 0  # bumps on every reload; late pages of an older one are dropped

    # -- paging -----------------------------------------------------------------------------
    def canFetchMore(self, parent: Index = _ROOT) -> bool:
        return not parent.isValid() and self._more and not self._fetching

    def fetchMore(self, parent: Index = _ROOT) -> None:
        if not self.canFetchMore(parent):
            return
        self._fetching = True
        offset, generation, loader, limit = len(self._ids), self._generation, self.load_page, self.page_size
        run_op(
            self,
            lambda: loader(offset, limit),
            on_success=lambda rows: self._page_loaded(generation, rows),
            on_failure=self._load_failed,
            key=f"{self.name}.load",
            progress_text=f"Loading {self.name}…",
        )

    def reload(self, *, from_start: bool = False) -> None:
        """Load again from the first row, as many rows as are shown now (at least a page).

        ``from_start``: only the first page (after the filter changed).
        """
        self._generation += 1
        self._fetching = True
        generation, loader = self._generation, self.load_page
        wanted = self.page_size if from_start else max(self.page_size, len(self._ids))
        page = self.page_size

        async def load() -> tuple[list[R], bool]:
            rows: list[R] = []
            while len(rows) < wanted:
                ask = min(page, wanted - len(rows))
                chunk = await loader(len(rows), ask)
                rows += chunk
                if len(chunk) < ask:
                    return rows, False
            return rows, True

        run_op(
            self,
            load,
            on_success=lambda result: self._reloaded(generation, *result),
            on_failure=self._load_failed,
            key=f"{self.name}.load",
            progress_text=f"Loading {self.name}…",
        )

    def _reloaded(self, generation: int, rows: list[R], more: bool) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._more = more
        self.loaded_once = True
        self.replace(rows)

    def _page_loaded(self, generation: int, rows: list[R]) -> None:
        self._fetching = False
        if generation != self._generation:
            return
        self._more = len(rows) >= self.page_size
        self.append(rows)  # rows already shown (new ones pushed the page down) are skipped

    def _load_failed(self, _error: BaseException) -> bool:
        self._fetching = False
        return False  # the error panel shows it

    # -- change notices ---------------------------------------------------------------------
    def refresh(self, keys: Iterable[K]) -> None:
        """Reload the named rows; keys not shown yet may be new rows at the top."""
        self._dirty.update(keys)
        if not self._refreshing and self._dirty:
            self._refresh_next()

    def _refresh_next(self) -> None:
        keys, self._dirty = self._dirty, set()
        self._refreshing = True
        known = [k for k in keys if k in self._positions]
        unknown = len(known) < len(keys)
        load_one, load_page, limit = self.load_one, self.load_page, self.page_size

        async def load() -> tuple[list[tuple[K, R | None]], list[R]]:
            rows = [(k, await load_one(k)) for k in known]
            head = await load_page(0, limit) if unknown else []
            return rows, head

        run_op(
            self,
            load,
            on_success=self._refreshed,
            on_failure=self._refresh_failed,
            progress_text=f"Refreshing {self.name}…",
        )

    def _refreshed(self, result: tuple[list[tuple[K, R | None]], list[R]]) -> None:
        rows, head = result
        for key, row in rows:
            if row is None or not self.matches(row):
                self.remove(key)
            else:
                self.update([row])
        if head:
            self.update(head)
            first_known = next(
                (i for i, r in enumerate(head) if self.key_of(r) in self._positions), len(head)
            )
            if self.loaded_once:
                self.prepend(head[:first_known])
        self._refreshing = False
        if self._dirty:
            self._refresh_next()

    def _refresh_failed(self, _error: BaseException) -> bool:
        self._refreshing = False
        return False
