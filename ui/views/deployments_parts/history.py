"""A deployment's revisions (newest first) and rolling back to a chosen one."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from podwarden.engine.security.rbac import Actor, Permissions
from podwarden.engine.services.deployments import RevisionInfo
from podwarden.ui.models.deployments import RevisionsModel
from podwarden.ui.roles import guard, set_enabled
from podwarden.ui.widgets.table import select_key, table_view


class HistoryPanel(QWidget):
    rollback_requested = Signal(int)  # revision number

    def __init__(self, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deployment-history")
        self.model = RevisionsModel(self)
        self.table = table_view(self.model, "revisions-table", stretch=5)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.label = QLabel("No revisions yet.")
        self.label.setObjectName("revisions-count")
        self.rollback_button = QPushButton("Roll back to this revision…")
        self.rollback_button.setObjectName("rollback")
        guard(
            self.rollback_button,
            actor,
            Permissions.DEPLOYMENTS_MANAGE,
            tooltip="Re-apply the selected revision's inputs as a new revision",
        )
        self.rollback_button.clicked.connect(self._rollback)
        self.detail = QLabel()
        self.detail.setObjectName("revision-detail")
        self.detail.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.label, 1)
        bar.addWidget(self.rollback_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)
        self._selected(QItemSelection(), QItemSelection())

    def show_revisions(self, revisions: list[RevisionInfo]) -> None:
        chosen = self.selected
        self.model.replace(revisions)
        if chosen is not None:
            self.select_revision(chosen.revision)
        self.label.setText(f"{len(revisions)} revision(s)" if revisions else "No revisions yet.")
        self._selected(QItemSelection(), QItemSelection())

    @property
    def selected(self) -> RevisionInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def select_revision(self, revision: int) -> bool:
        return select_key(self.table, self.model, revision)

    def _selected(self, _s: QItemSelection, _d: QItemSelection) -> None:
        rev = self.selected
        set_enabled(self.rollback_button, rev is not None)
        if rev is None:
            self.detail.clear()
            return
        inputs = rev.inputs
        stack = (inputs.get("stack") or {}).get("name", "?")
        image = (inputs.get("stack") or {}).get("image", "")
        kinds = ", ".join(f"{m.get('kind')} {(m.get('metadata') or {}).get('name')}" for m in rev.manifests)
        self.detail.setText(
            f"Revision {rev.revision}: stack {stack} ({image}), {inputs.get('replicas', '?')} replica(s), "
            f"namespace {inputs.get('namespace', '?')}. Objects: {kinds or 'none'}."
            + (f" Rollback of revision {rev.rollback_of}." if rev.rollback_of else "")
        )

    def _rollback(self) -> None:
        rev = self.selected
        if rev is not None:
            self.rollback_requested.emit(rev.revision)
