"""Stacks: the list of workload definitions and the editor of the selected (or a new) one;
save (create or update, with the loaded version), delete after a confirmation, import a
docker-compose file or a stack's YAML, export the YAML.

The engine validates; its ValidationError lands at the fields (nothing is saved half).
A stale save's ConflictError goes to the error panel and the editor keeps what was typed.
File dialogs only pick a path: :meth:`StacksView.import_compose_file`,
:meth:`~StacksView.import_yaml_file` and :meth:`~StacksView.export_yaml_to` do the work
(tests call them directly).
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from podwarden.engine.errors import ConflictError
from podwarden.engine.security.rbac import Permissions
from podwarden.engine.services.stacks import StackInfo, StackPage
from podwarden.ui.context import UiContext
from podwarden.ui.dialogs.base import confirm
from podwarden.ui.ops import run_op
from podwarden.ui.roles import allowed, guard, set_enabled
from podwarden.ui.views.stack_editor.transfer import StackFilesView
from podwarden.ui.widgets.table import table_view

#: More stacks than a fleet keeps; the list is loaded whole.
LIST_LIMIT = 500


class StacksView(StackFilesView):
    watched = frozenset({"stacks"})

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setObjectName("page-stacks")
        self.dirty = False
        self.confirm_box: QMessageBox | None = None

        def button(name: str, text: str) -> QPushButton:
            widget = QPushButton(text)
            widget.setObjectName(name)
            return widget

        manage = Permissions.STACKS_MANAGE
        self.new_button = button("new-stack", "New stack")
        guard(self.new_button, ctx.actor, manage, tooltip="Start a new, empty stack")
        self.save_button = button("save-stack", "Save")
        guard(self.save_button, ctx.actor, manage, tooltip="Validate and store the stack")
        self.revert_button = button("revert-stack", "Revert")
        self.revert_button.setToolTip("Load the stored stack again (drops your edits)")
        self.delete_button = button("delete-stack", "Delete…")
        guard(self.delete_button, ctx.actor, Permissions.STACKS_MANAGE, tooltip="Delete the selected stack")
        self.import_compose_button = button("import-compose", "Import compose…")
        guard(
            self.import_compose_button, ctx.actor, manage,
            tooltip="One stack per service of a docker-compose file",
        )  # fmt: skip
        self.import_yaml_button = button("import-yaml", "Import YAML…")
        guard(self.import_yaml_button, ctx.actor, manage, tooltip="Create a stack from its YAML form")
        self.export_yaml_button = button("export-yaml", "Export YAML…")
        self.export_yaml_button.setToolTip("Save the stored stack as YAML")
        self.new_button.clicked.connect(self.new_stack)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        self.delete_button.clicked.connect(self.delete_selected)
        self.import_compose_button.clicked.connect(self.ask_compose_file)
        self.import_yaml_button.clicked.connect(self.ask_yaml_file)
        self.export_yaml_button.clicked.connect(self.ask_export_path)

        self.table = table_view(self.model, "stacks-table", stretch=2)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.title = QLabel()
        self.title.setObjectName("stack-title")
        self.title.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.editor.edited.connect(self._edited)
        read_only = not allowed(self.save_button)
        self.editor.set_read_only(read_only)

        bar = QHBoxLayout()
        for widget in (self.new_button, self.import_compose_button, self.import_yaml_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        for widget in (self.export_yaml_button, self.revert_button, self.delete_button, self.save_button):
            bar.addWidget(widget)
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.title)
        if read_only:
            hint = QLabel(self.save_button.toolTip() + " You see the stacks read-only.")
            hint.setObjectName("read-only-hint")
            hint.setWordWrap(True)
            detail_layout.addWidget(hint)
        detail_layout.addWidget(self.editor, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([440, 660])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.note)
        layout.addWidget(splitter, 1)
        self._show_title()

    # -- the list ---------------------------------------------------------------------------
    def reload(self) -> None:
        run_op(
            self,
            lambda: self.engine.stacks.list_stacks(self.actor, limit=LIST_LIMIT),
            on_success=self._listed,
            key="stacks.list",
            progress_text="Loading stacks…",
        )

    def _listed(self, page: StackPage) -> None:
        kept = self.current
        self.model.replace(page.items)
        if kept is None:
            self.table.clearSelection()
            return
        fresh = self.model.get(kept.id)
        if fresh is None:
            self.show_note(f"Stack {kept.name} was deleted elsewhere; saving creates it again.")
            self.current = None
            self.table.clearSelection()
            self._show_title()
            return
        self.select_stack(kept.id)
        if fresh.version != kept.version:
            if self.dirty:
                self.show_note(
                    f"Stack {fresh.name} was changed elsewhere (version {fresh.version}); saving your edits "
                    "will conflict: Revert loads the stored version."
                )
            else:
                self._show(fresh)

    def select_stack(self, stack_id: uuid.UUID) -> bool:
        row = self.model.row_of(stack_id)
        if row is None:
            return False
        if not self.table.selectionModel().isRowSelected(row):
            self.table.selectRow(row)
        return True

    def _selection_changed(self, _s: QItemSelection, _d: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        info = self.model.row_at(rows[0].row())
        if self.current is None or info.id != self.current.id:
            self.open_stack(info)

    def open_stack(self, info: StackInfo | None) -> QMessageBox | None:
        """Show ``info`` (None: a new stack) in the editor; with unsaved edits, ask first
        (returns the open question; the selection stays on the edited stack meanwhile)."""
        if not self.dirty:
            self._show(info)
            if info is None:
                self.table.clearSelection()
            else:
                self.select_stack(info.id)
            return None
        if self.current is None:
            self.table.clearSelection()
        else:
            self.select_stack(self.current.id)
        edited = self.current.name if self.current is not None else "the new stack"
        target = info.name if info is not None else "a new stack"
        self.confirm_box = confirm(
            self,
            "Unsaved edits",
            f"Discard your edits to <b>{edited}</b> and open {target}?",
            lambda: self._discard_and_open(info),
            yes_text="Discard edits",
        )
        return self.confirm_box

    def _discard_and_open(self, info: StackInfo | None) -> None:
        self.dirty = False
        self.open_stack(info)

    def _show(self, info: StackInfo | None) -> None:
        self.current = info
        self.editor.load(None if info is None else info.stack)
        self.dirty = False
        if info is not None and info.warnings:
            self.show_note("Warnings: " + "; ".join(info.warnings))
        self._show_title()

    def _edited(self) -> None:
        if not self.dirty:
            self.dirty = True
            self._show_title()

    def _show_title(self) -> None:
        if self.current is None:
            text = "New stack"
        else:
            info = self.current
            text = f"{info.name} · {info.kind} · version {info.stack.version} · saved {info.version}×"
        self.title.setText(text + ("  (edited)" if self.dirty else ""))
        set_enabled(self.delete_button, self.current is not None)
        self.export_yaml_button.setEnabled(self.current is not None)
        self.revert_button.setEnabled(self.dirty or self.current is not None)

    # -- new, save, revert, delete ----------------------------------------------------------
    def new_stack(self) -> None:
        self.show_note("")
        self.open_stack(None)
        self.editor.tabs.setCurrentIndex(0)
        self.editor.general.name.setFocus()

    def save(self) -> None:
        document = self.editor.document()
        current = self.current
        if current is None:
            work = lambda: self.engine.stacks.create_stack(self.actor, document)  # noqa: E731
        else:
            work = lambda: self.engine.stacks.update_stack(  # noqa: E731
                self.actor, current.id, document, expected_version=current.version
            )
        run_op(
            self,
            work,
            on_success=self._saved,
            on_failure=self._save_failed,
            key="stacks.save",
            progress_text=f"Saving stack {document.get('name') or ''}…",
        )

    def _saved(self, info: StackInfo) -> None:
        if self.model.row_of(info.id) is None:
            self.model.append([info])
        else:
            self.model.update([info])
        self._show(info)
        self.select_stack(info.id)
        self.show_note(f"Saved {info.name} (version {info.version}).")
        if info.warnings:
            self.show_note(f"Saved {info.name}. Warnings: " + "; ".join(info.warnings))
        self.reload()

    def _save_failed(self, error: BaseException) -> bool:
        self.show_note("")
        if isinstance(error, ConflictError):
            self.editor.show_errors(
                {}, f"{error} Your edits are kept: copy what you need, then Revert to load the stored stack."
            )
            return False  # the error panel shows it too
        return self.editor.show_error(error)

    def revert(self) -> None:
        current = self.current
        if current is None:
            self._show(None)
            return
        run_op(
            self,
            lambda: self.engine.stacks.get_stack(self.actor, current.id),
            on_success=self._reverted,
            key="stacks.revert",
            progress_text=f"Loading {current.name}…",
        )

    def _reverted(self, info: StackInfo) -> None:
        self.show_note("")
        self.model.update([info])
        self._show(info)

    def delete_selected(self) -> QMessageBox | None:
        current = self.current
        if current is None:
            return None

        def delete() -> None:
            run_op(
                self,
                lambda: self.engine.stacks.delete_stack(
                    self.actor, current.id, expected_version=current.version
                ),
                on_success=lambda _none: self._deleted(current),
                key=f"stacks.delete.{current.id}",
                progress_text=f"Deleting stack {current.name}…",
            )

        self.confirm_box = confirm(
            self,
            f"Delete stack {current.name}",
            f"Delete the stack <b>{current.name}</b>? Deployments using it must be removed first.",
            delete,
            yes_text=f"Delete {current.name}",
        )
        return self.confirm_box

    def _deleted(self, info: StackInfo) -> None:
        self.model.remove(info.id)
        if self.current is not None and self.current.id == info.id:
            self._show(None)
            self.table.clearSelection()
        self.show_note(f"Deleted {info.name}.")
