"""Deployment tables: the deployments (a short list, loaded whole, with their stack and
cluster names), a deployment's revisions, and the object changes of a plan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from PySide6.QtCore import QObject

from podwarden.engine.render.diff import ObjectChange
from podwarden.engine.services.deployments import DeploymentInfo, RevisionInfo
from podwarden.ui.format import when
from podwarden.ui.models.table import Column, RowsModel

STATUS_COLORS = {
    "draft": "#5e5c64",
    "deploying": "#1a5fb4",
    "deployed": "#26a269",
    "failed": "#c01c28",
    "undeployed": "#986a44",
}
RESULT_COLORS = {"pending": "#1a5fb4", "succeeded": "#26a269", "failed": "#c01c28"}
ACTION_COLORS = {"create": "#26a269", "update": "#1a5fb4", "prune": "#c01c28", "unchanged": "#5e5c64"}


@dataclass(frozen=True)
class DeploymentRow:
    """A deployment with the names of its stack and cluster (ids may point nowhere)."""

    info: DeploymentInfo
    stack_name: str
    cluster_name: str

    @property
    def id(self) -> uuid.UUID:
        return self.info.id


def _replicas(row: DeploymentRow) -> str:
    return str(row.info.replicas)


DEPLOYMENT_COLUMNS: list[Column[DeploymentRow]] = [
    Column("Deployment", lambda r: r.info.name, width=18),
    Column("Stack", lambda r: r.stack_name, width=16),
    Column("Cluster", lambda r: r.cluster_name, width=14),
    Column("Namespace", lambda r: r.info.namespace, width=14),
    Column("Replicas", _replicas, align_right=True, width=8),
    Column(
        "Status",
        lambda r: r.info.status,
        tooltip=lambda r: r.info.status_message or r.info.status,
        color=lambda r: STATUS_COLORS.get(r.info.status),
        width=11,
    ),
    Column(
        "Revision",
        lambda r: "" if r.info.current_revision is None else str(r.info.current_revision),
        align_right=True,
        width=8,
    ),
    Column("Last deploy", lambda r: when(r.info.deployed_at), width=19),
]

REVISION_COLUMNS: list[Column[RevisionInfo]] = [
    Column("Revision", lambda r: str(r.revision), align_right=True, width=8),
    Column("Result", lambda r: r.result, color=lambda r: RESULT_COLORS.get(r.result), width=10),
    Column("When", lambda r: when(r.created_at), width=19),
    Column("By", lambda r: r.actor, width=14),
    Column("Rollback of", lambda r: "" if r.rollback_of is None else str(r.rollback_of), width=10),
    Column("Reason", lambda r: r.reason, tooltip=lambda r: r.reason),
]

CHANGE_COLUMNS: list[Column[ObjectChange]] = [
    Column("Action", lambda c: c.action, color=lambda c: ACTION_COLORS.get(c.action), width=10),
    Column("Object", lambda c: c.ref),
]


class DeploymentsModel(RowsModel[uuid.UUID, DeploymentRow]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(DEPLOYMENT_COLUMNS, lambda r: r.info.id, parent)


class RevisionsModel(RowsModel[int, RevisionInfo]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(REVISION_COLUMNS, lambda r: r.revision, parent)


class ChangesModel(RowsModel[str, ObjectChange]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(CHANGE_COLUMNS, lambda c: f"{c.api_version} {c.ref}", parent)
