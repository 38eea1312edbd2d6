"""What the list-with-actions settings tabs share: a table of rows from the engine, the
selection (kept across reloads), an inline message/note pair and the open dialog.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QItemSelection, SignalInstance
from PySide6.QtWidgets import QDialog, QLabel, QWidget

from podwarden.ui.context import UiContext
from podwarden.ui.models.table import RowsModel
from podwarden.ui.views.base import View
from podwarden.ui.widgets.form import INLINE_ERRORS, NOTE_STYLE, error_label
from podwarden.ui.widgets.table import select_key, table_view

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class ListTab(View, Generic[K, R]):
    """A settings tab around one :class:`RowsModel`; subclasses add buttons and layout.

    Engine refusals a user can act on (``INLINE_ERRORS``: the last admin, a stale
    version…) show inline under the buttons; anything else goes to the error panel.
    """

    def __init__(
        self,
        ctx: UiContext,
        model: RowsModel[K, R],
        name: str,
        *,
        stretch: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(ctx, parent)
        self.setObjectName(f"settings-{name}")
        self.model = model
        self.dialog: QWidget | None = None  # the open dialog, if any
        self._kept: K | None = None
        self.table = table_view(model, f"{name}-table", stretch=stretch)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        model.modelAboutToBeReset.connect(self._remember)
        model.modelReset.connect(self._restore)
        self.message = error_label(f"{name}-message")
        self.note = QLabel()
        self.note.setObjectName(f"{name}-note")
        self.note.setStyleSheet(NOTE_STYLE)

    # -- selection ------------------------------------------------------------------------
    @property
    def selected(self) -> R | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def select_where(self, matches: Callable[[R], bool]) -> bool:
        for row in range(self.model.rowCount()):
            if matches(self.model.row_at(row)):
                self.table.selectRow(row)
                return True
        return False

    def _remember(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        self._kept = self.model.key_at(rows[0].row()) if rows else None

    def _restore(self) -> None:
        if self._kept is not None:
            select_key(self.table, self.model, self._kept)
        self._update_buttons()

    def _selection_changed(self, _a: QItemSelection, _b: QItemSelection) -> None:
        self._say("")
        self._update_buttons()

    def _update_buttons(self) -> None:
        """Enable what needs a selection (subclasses)."""

    # -- messages ---------------------------------------------------------------------------
    def _say(self, error: str, note: str = "") -> None:
        self.message.setText(error)
        self.message.setVisible(bool(error))
        self.note.setText(note)

    def _failed(self, error: BaseException) -> bool:
        if isinstance(error, INLINE_ERRORS):
            self._say(str(error))
            self.reload()
            return True
        return False

    def _done(self, note: str) -> None:
        self._say("", note)
        self.reload()

    def _open(self, dialog: QDialog, done: SignalInstance, note: Callable[..., str]) -> None:
        """Open ``dialog`` non-modally; when ``done`` fires, show ``note(*args)`` and reload."""

        def finished(*args: Any) -> None:
            self._done(note(*args))

        done.connect(finished)
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
