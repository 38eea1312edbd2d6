"""Rollback, undeploy and delete, each after a confirmation that names the deployment;
and the view's action buttons (role-guarded)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QPushButton

from podwarden.engine.security.rbac import Actor, Permissions
from podwarden.engine.services.deployments import DeploymentInfo
from podwarden.ui.dialogs.base import confirm
from podwarden.ui.ops import run_op
from podwarden.ui.roles import guard
from podwarden.ui.views.base import View


def action_button(
    text: str, name: str, slot: Callable[[], object], tip: str, actor: Actor | None, *, mutating: bool = True
) -> QPushButton:
    """A button; a ``mutating`` one is disabled (tooltip: why) for roles that may not deploy."""
    widget = QPushButton(text)
    widget.setObjectName(name)
    widget.clicked.connect(slot)
    if mutating:
        guard(widget, actor, Permissions.DEPLOYMENTS_MANAGE, tooltip=tip)
    else:
        widget.setToolTip(tip)
    return widget


def ask_rollback(view: View, dep: DeploymentInfo, revision: int, on_yes: Callable[[], object]) -> QMessageBox:
    return confirm(
        view, f"Roll back {dep.name}",
        f"Roll back the deployment <b>{dep.name}</b> to revision {revision}? Its inputs are "
        "applied again to the cluster as a new revision.",
        on_yes, yes_text=f"Roll back to {revision}",
    )  # fmt: skip


def ask_undeploy(
    view: View, dep: DeploymentInfo, on_start: Callable[[], object], on_done: Callable[[list[str]], object]
) -> QMessageBox:
    """Confirm, then delete everything the deployment runs (``on_done`` gets what went)."""

    def undeploy() -> None:
        on_start()
        run_op(
            view, lambda: view.engine.deployments.undeploy(view.actor, dep.id), on_success=on_done,
            key=f"deployments.undeploy.{dep.id}", progress_text=f"Undeploying {dep.name}…",
        )  # fmt: skip

    return confirm(
        view, f"Undeploy {dep.name}",
        f"Undeploy <b>{dep.name}</b> from namespace {dep.namespace}? Everything it runs in the "
        "cluster is deleted (volume claims marked retain are kept).",
        undeploy, yes_text=f"Undeploy {dep.name}",
    )  # fmt: skip


def undeploy_report(deleted: list[str]) -> str:
    return "".join(f"deleted {ref}\n" for ref in deleted) or "nothing was running\n"


def ask_delete(view: View, dep: DeploymentInfo, on_done: Callable[[None], object]) -> QMessageBox:
    """Confirm, then forget the deployment (the engine refuses one still deployed)."""

    def delete() -> None:
        engine, actor = view.engine, view.actor
        run_op(
            view,
            lambda: engine.deployments.delete_deployment(actor, dep.id, expected_version=dep.version),
            on_success=on_done,
            key=f"deployments.delete.{dep.id}",
            progress_text=f"Deleting {dep.name}…",
        )

    return confirm(
        view, f"Delete {dep.name}",
        f"Forget the deployment <b>{dep.name}</b>, its history and its stored secret values?",
        delete, yes_text=f"Delete {dep.name}",
    )  # fmt: skip
