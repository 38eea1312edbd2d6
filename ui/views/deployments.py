"""Deployments: the list with status; create/edit; preflight and plan/diff before apply;
deploy/undeploy with the job's live output; history with rollback; the pods' logs.

Only reading the list touches the database; the cluster is contacted when a plan,
a deploy or the Pods tab asks for it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from PySide6.QtCore import QItemSelection, QModelIndex, Signal
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QTabWidget,
    QWidget,
)

from podwarden.engine.render.naming import DEPLOYMENT_ID_LABEL
from podwarden.engine.render.preflight import PreflightWarning
from podwarden.engine.services.deployments import DeploymentInfo, DeployResult, Plan, RevisionInfo
from podwarden.engine.services.stacks import StackInfo
from podwarden.ui.context import UiContext
from podwarden.ui.dialogs.deployment import DeploymentDialog
from podwarden.ui.dialogs.plan import PlanDialog
from podwarden.ui.models.deployments import DeploymentRow, DeploymentsModel
from podwarden.ui.ops import run_op
from podwarden.ui.roles import set_enabled
from podwarden.ui.views.base import View
from podwarden.ui.views.deployments_parts.confirmations import (
    action_button,
    ask_delete,
    ask_rollback,
    ask_undeploy,
    undeploy_report,
)
from podwarden.ui.views.deployments_parts.detail import facts, inputs_text
from podwarden.ui.views.deployments_parts.history import HistoryPanel
from podwarden.ui.views.deployments_parts.loading import load_rows
from podwarden.ui.widgets.job_output import JobOutputPanel
from podwarden.ui.widgets.layout import master_detail, toolbar
from podwarden.ui.widgets.pod_logs import PodLogViewer, PodSource
from podwarden.ui.widgets.table import select_key, table_view

INPUTS, OUTPUT, HISTORY, PODS = 0, 1, 2, 3


class DeploymentsView(View):
    watched = frozenset({"deployments", "deployment_revisions", "jobs", "stacks", "clusters"})
    #: The window may connect this to select the job in the Jobs view.
    open_job_requested = Signal(object)  # uuid.UUID

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setObjectName("page-deployments")
        self.model = DeploymentsModel(self)
        self.stacks: dict[uuid.UUID, StackInfo] = {}
        self.selected: uuid.UUID | None = None
        self.running: set[uuid.UUID] = set()  # deploys/rollbacks this view started, still running
        self.dialog: QWidget | None = None  # the last dialog opened (tests press its buttons)

        act, who = action_button, ctx.actor
        self.new_button = act("New deployment…", "new-deployment", self.new_deployment, "Deploy a stack", who)
        self.edit_button = act("Edit…", "edit-deployment", self.edit_selected, "Change the inputs", who)
        self.plan_button = act(
            "Plan…", "plan-deployment", self.plan_selected, "Preflight and diff", who, mutating=False
        )
        self.deploy_button = act("Deploy…", "deploy", self.deploy_selected, "Preflight, plan, apply", who)
        self.undeploy_button = act(
            "Undeploy…", "undeploy", self.undeploy_selected, "Delete it in the cluster", who
        )
        self.delete_button = act("Delete…", "delete-deployment", self.delete_selected, "Forget it", who)
        self.refresh_button = act("Refresh", "refresh", self.reload, "Reload the list", who, mutating=False)

        self.table = table_view(self.model, "deployments-table", stretch=0)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.title = QLabel("No deployment selected")
        self.title.setObjectName("deployment-title")
        self.title.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.facts = QLabel()
        self.facts.setObjectName("deployment-facts")
        self.facts.setWordWrap(True)
        self.inputs = QPlainTextEdit()
        self.inputs.setObjectName("deployment-inputs")
        self.inputs.setReadOnly(True)
        self.output = JobOutputPanel(ctx.engine, ctx.actor, key="deployments", parent=self)
        self.output.job_finished.connect(lambda _job: self.reload())
        self.output.open_job_requested.connect(self.open_job_requested)
        self.history = HistoryPanel(ctx.actor, self)
        self.history.rollback_requested.connect(self.rollback_to)
        self.pods = PodLogViewer(ctx.engine, ctx.actor, key="deployments", parent=self)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("deployment-tabs")
        self.tabs.addTab(self.inputs, "Inputs")
        self.tabs.addTab(self.output, "Deploy output")
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.pods, "Pods && logs")
        self.tabs.currentChanged.connect(self._tab_changed)

        bar = toolbar(
            [self.new_button, self.edit_button],
            [
                self.refresh_button,
                self.plan_button,
                self.deploy_button,
                self.undeploy_button,
                self.delete_button,
            ],
        )
        master_detail(self, [bar], self.table, [self.title, self.facts, self.tabs], stretch=(1, 2))
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.model.dataChanged.connect(self._rows_changed)
        self._show_detail()

    # -- the list ---------------------------------------------------------------------------
    def reload(self) -> None:
        run_op(
            self, lambda: load_rows(self.engine, self.actor), on_success=lambda r: self._loaded(*r),
            key="deployments.list", progress_text="Loading deployments…",
        )  # fmt: skip

    def _loaded(self, rows: list[DeploymentRow], stacks: dict[uuid.UUID, StackInfo]) -> None:
        self.stacks = stacks
        self.model.replace(rows)
        self.load_history()

    def on_change(self, table: str, ids: tuple[str, ...] | None) -> None:
        if table == "jobs":
            self.output.fetch()  # the live output (a deploy writes a line: a notice)
        elif table == "deployment_revisions":
            self.load_history()
        else:
            self.request_reload()

    def select_deployment(self, deployment_id: uuid.UUID) -> bool:
        return select_key(self.table, self.model, deployment_id)

    @property
    def selected_row(self) -> DeploymentRow | None:
        return None if self.selected is None else self.model.get(self.selected)

    @property
    def selected_deployment(self) -> DeploymentInfo | None:
        row = self.selected_row
        return None if row is None else row.info

    def _selection_changed(self, _s: QItemSelection, _d: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        chosen = self.model.key_at(rows[0].row()) if rows else None
        if chosen == self.selected:
            return
        self.selected = chosen
        self.output.clear()
        self.history.show_revisions([])
        self.pods.show_pods(None)
        self._show_detail()
        self.load_history()
        self._tab_changed(self.tabs.currentIndex())

    def _remember_selection(self) -> None:
        self._kept = self.selected

    def _restore_selection(self) -> None:
        kept = getattr(self, "_kept", None)
        if kept is None or not self.select_deployment(kept):
            self.table.clearSelection()
            self._show_detail()

    def _rows_changed(self, top: QModelIndex, bottom: QModelIndex) -> None:
        row = None if self.selected is None else self.model.row_of(self.selected)
        if row is not None and top.row() <= row <= bottom.row():
            self._show_detail()

    def _show_detail(self) -> None:
        row = self.selected_row
        if row is None:
            self.title.setText("No deployment selected")
            self.facts.clear()
            self.inputs.clear()
        else:
            self.title.setText(row.info.name)
            self.facts.setText(facts(row))
            self.inputs.setPlainText(
                inputs_text(row.info, self.stacks.get(row.info.stack_id or uuid.UUID(int=0)))
            )
        chosen = row is not None
        status = row.info.status if row is not None else ""
        busy = row is not None and row.info.id in self.running
        set_enabled(self.edit_button, chosen)
        set_enabled(self.deploy_button, chosen and not busy)
        self.plan_button.setEnabled(chosen)
        set_enabled(self.undeploy_button, status in ("deployed", "deploying", "failed"))
        set_enabled(self.delete_button, chosen and status not in ("deployed", "deploying", "failed"))

    # -- detail tabs ------------------------------------------------------------------------
    def load_history(self) -> None:
        """The selected deployment afresh (with its secret names) and its revisions."""
        dep = self.selected_deployment
        if dep is None:
            return

        async def load() -> tuple[DeploymentInfo, list[RevisionInfo]]:
            info = await self.engine.deployments.get_deployment(self.actor, dep.id)
            return info, await self.engine.deployments.history(self.actor, dep.id)

        run_op(
            self, load, on_success=lambda result: self._detail_loaded(*result),
            key="deployments.detail", progress_text=f"Loading the history of {dep.name}…",
        )  # fmt: skip

    def _detail_loaded(self, info: DeploymentInfo, revisions: list[RevisionInfo]) -> None:
        row = self.model.get(info.id)
        if row is not None:
            self.model.update([DeploymentRow(info, row.stack_name, row.cluster_name)])
        if self.selected == info.id:
            self.history.show_revisions(revisions)

    def _tab_changed(self, index: int) -> None:
        dep = self.selected_deployment
        if index != PODS or dep is None or dep.cluster_id is None:
            return
        selector = f"{DEPLOYMENT_ID_LABEL}={dep.id}"
        if self.pods.source is None or self.pods.source.label_selector != selector:
            self.pods.show_pods(PodSource(dep.cluster_id, dep.namespace, selector))

    # -- create and edit --------------------------------------------------------------------
    def new_deployment(self) -> DeploymentDialog:
        return self._open_dialog(DeploymentDialog(self.engine, self.actor, self))

    def edit_selected(self) -> DeploymentDialog | None:
        dep = self.selected_deployment
        if dep is None:
            return None
        return self._open_dialog(DeploymentDialog(self.engine, self.actor, self, deployment=dep))

    def _open_dialog(self, dialog: DeploymentDialog) -> DeploymentDialog:
        dialog.saved.connect(self._saved)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()
        self.dialog = dialog
        return dialog

    def _saved(self, info: DeploymentInfo) -> None:
        self._kept = info.id
        self.reload()

    # -- plan and deploy --------------------------------------------------------------------
    def plan_selected(self) -> None:
        self._plan(apply=False)

    def deploy_selected(self) -> None:
        self._plan(apply=True)

    def _plan(self, *, apply: bool) -> None:
        dep = self.selected_deployment
        if dep is None:
            return

        async def look() -> tuple[list[PreflightWarning], Plan]:
            warnings, plan = await asyncio.gather(
                self.engine.deployments.preflight(self.actor, dep.id),
                self.engine.deployments.plan(self.actor, dep.id),
            )
            return warnings, plan

        run_op(
            self, look, on_success=lambda result: self._show_plan(dep, *result, apply=apply),
            key="deployments.plan", progress_text=f"Preflight and plan for {dep.name}…",
        )  # fmt: skip

    def _show_plan(
        self, dep: DeploymentInfo, warnings: list[PreflightWarning], plan: Plan, *, apply: bool
    ) -> None:
        title = f"{dep.name} in {dep.namespace}"
        dialog = PlanDialog(title, plan, warnings, lambda: self.start_deploy(dep), self.actor, self)
        if not apply:
            dialog.apply.setText("Deploy")
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()
        self.dialog = dialog

    def start_deploy(self, dep: DeploymentInfo, *, rollback_to: int | None = None) -> None:
        """Deploy (or roll back) as a job; its output streams into the Deploy output tab.

        Not a keyed op: a newer request must never cancel a running deploy."""
        if dep.id in self.running:
            return
        what = f"Roll back {dep.name} to revision {rollback_to}" if rollback_to else f"Deploy {dep.name}"
        self.output.watch_subject(dep.id, "deploy", datetime.now(UTC), what)
        self.tabs.setCurrentIndex(OUTPUT)
        if rollback_to is None:
            call = lambda: self.engine.deployments.deploy(self.actor, dep.id)  # noqa: E731
        else:
            call = lambda: self.engine.deployments.rollback(self.actor, dep.id, rollback_to)  # noqa: E731
        self.running.add(dep.id)
        self._show_detail()
        run_op(
            self, call, on_success=lambda result: self._deployed(dep, result),
            on_failure=lambda _error: self._deploy_ended(dep.id), progress_text=f"{what}…",
        )  # fmt: skip

    def _deployed(self, dep: DeploymentInfo, result: DeployResult) -> None:
        self._deploy_ended(dep.id)
        if self.selected == dep.id:
            self.output.follow_job(result.job_id)
        self.reload()

    def _deploy_ended(self, deployment_id: uuid.UUID) -> bool:
        self.running.discard(deployment_id)
        self._show_detail()
        return False  # errors go to the error panel

    def rollback_to(self, revision: int) -> None:
        dep = self.selected_deployment
        if dep is None:
            return
        self.dialog = ask_rollback(self, dep, revision, lambda: self.start_deploy(dep, rollback_to=revision))

    # -- undeploy and delete ----------------------------------------------------------------
    def undeploy_selected(self) -> None:
        dep = self.selected_deployment
        if dep is not None:
            self.dialog = ask_undeploy(
                self, dep, lambda: self._undeploying(dep), lambda deleted: self._undeployed(dep, deleted)
            )

    def _undeploying(self, dep: DeploymentInfo) -> None:
        self.tabs.setCurrentIndex(OUTPUT)
        self.output.show_text(f"Undeploying {dep.name}…", "")

    def _undeployed(self, dep: DeploymentInfo, deleted: list[str]) -> None:
        self.output.show_text(
            f"Undeployed {dep.name}: {len(deleted)} object(s) deleted", undeploy_report(deleted)
        )
        self.reload()

    def delete_selected(self) -> None:
        dep = self.selected_deployment
        if dep is not None:
            self.dialog = ask_delete(self, dep, lambda _none: self.model.remove(dep.id))
