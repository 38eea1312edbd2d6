"""Look before applying: preflight warnings, the plan's object changes with their diff
against the cluster, and every rendered manifest (secrets redacted); Apply or Cancel."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from podwarden.engine.render.diff import ObjectChange, object_key
from podwarden.engine.render.manifests import to_yaml
from podwarden.engine.render.preflight import PreflightWarning
from podwarden.engine.security.rbac import Actor, Permissions
from podwarden.engine.services.deployments import Plan
from podwarden.ui.models.deployments import ChangesModel
from podwarden.ui.roles import guard
from podwarden.ui.widgets.diff_view import DiffView
from podwarden.ui.widgets.table import table_view


def summary(plan: Plan) -> str:
    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    parts = [f"{counts[a]} to {a}" for a in ("create", "update", "prune") if counts.get(a)]
    if counts.get("unchanged"):
        parts.append(f"{counts['unchanged']} unchanged")
    return ", ".join(parts) or "nothing to apply"


class PlanDialog(QDialog):
    """``on_apply`` runs when the person presses Apply (the dialog closes first)."""

    def __init__(
        self,
        title: str,
        plan: Plan,
        warnings: list[PreflightWarning],
        on_apply: Callable[[], object],
        actor: Actor,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("plan-dialog")
        self.setWindowTitle(f"Plan: {title}")
        self.plan, self.warnings, self.on_apply = plan, warnings, on_apply
        self.summary = QLabel(f"<b>{title}</b>: {summary(plan)}.")
        self.summary.setObjectName("plan-summary")
        self.warning_list = QListWidget()
        self.warning_list.setObjectName("preflight-warnings")
        for warning in warnings:
            self.warning_list.addItem(f"⚠ {warning.message}")
        self.warning_list.setStyleSheet("color: #c64600;")
        self.warning_list.setMaximumHeight(90)
        self.warning_list.setVisible(bool(warnings))
        self.warning_label = QLabel(
            f"Preflight: {len(warnings)} warning(s); deploying is still possible."
            if warnings
            else "Preflight: no warnings."
        )
        self.warning_label.setObjectName("preflight-summary")

        self.changes = ChangesModel(self)
        self.changes.replace(plan.changes)
        self.changes_table = table_view(self.changes, "plan-changes", stretch=1)
        self.changes_table.selectionModel().selectionChanged.connect(self._change_selected)
        self.diff = DiffView("plan-diff")
        self.diff.setPlaceholderText("Select an object to see what changes.")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.changes_table)
        split.addWidget(self.diff)
        split.setStretchFactor(1, 2)
        self.manifests = DiffView("plan-manifests")
        self.manifests.setPlainText(plan.yaml)
        self.tabs = QTabWidget()
        self.tabs.addTab(split, "Changes")
        self.tabs.addTab(self.manifests, "Rendered manifests")

        self.buttons = QDialogButtonBox()
        self.apply = self.buttons.addButton("Apply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply.setObjectName("plan-apply")
        guard(self.apply, actor, Permissions.DEPLOYMENTS_MANAGE, tooltip="Apply these changes to the cluster")
        self.cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel.setObjectName("plan-cancel")
        self.cancel.setDefault(True)
        self.apply.clicked.connect(self._apply)
        self.cancel.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.warning_label)
        layout.addWidget(self.warning_list)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.buttons)
        self.resize(900, 620)
        if plan.changes:
            first = next((i for i, c in enumerate(plan.changes) if c.action != "unchanged"), 0)
            self.changes_table.selectRow(first)

    def _change_selected(self, _s: QItemSelection, _d: QItemSelection) -> None:
        rows = self.changes_table.selectionModel().selectedRows()
        self.diff.setPlainText(self.describe(self.changes.row_at(rows[0].row())) if rows else "")

    def describe(self, change: ObjectChange) -> str:
        if change.action == "update":
            return change.diff
        if change.action == "prune":
            return f"# {change.ref} is no longer rendered: it will be deleted.\n"
        wanted = (change.api_version, change.kind, change.namespace or "", change.name)
        manifest = next((m for m in self.plan.manifests if object_key(m) == wanted), None)
        head = "# new object\n" if change.action == "create" else "# unchanged\n"
        return head + (to_yaml([manifest]) if manifest is not None else "")

    def _apply(self) -> None:
        self.accept()
        self.on_apply()
