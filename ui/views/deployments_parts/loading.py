"""Reading what the Deployments view lists: every deployment, with its stack and cluster names."""

from __future__ import annotations

import uuid

from podwarden.engine import Actor, Engine
from podwarden.engine.services.deployments import DeploymentInfo
from podwarden.engine.services.stacks import StackInfo
from podwarden.ui.models.deployments import DeploymentRow

PAGE = 500


async def load_rows(engine: Engine, actor: Actor) -> tuple[list[DeploymentRow], dict[uuid.UUID, StackInfo]]:
    """All deployments (in pages of 500) as rows, and the stacks by id."""
    deployments: list[DeploymentInfo] = []
    while True:
        page = await engine.deployments.list_deployments(actor, limit=PAGE, offset=len(deployments))
        deployments += page
        if len(page) < PAGE:
            break
    stacks: list[StackInfo] = []
    while True:
        chunk = (await engine.stacks.list_stacks(actor, limit=PAGE, offset=len(stacks))).items
        stacks += chunk
        if len(chunk) < PAGE:
            break
    by_id = {s.id: s for s in stacks}
    clusters = {c.id: c.name for c in await engine.clusters.list_clusters(actor)}
    rows = [
        DeploymentRow(
            d,
            by_id[d.stack_id].name if d.stack_id in by_id else "(no stack)",
            clusters.get(d.cluster_id, "(no cluster)") if d.cluster_id else "(no cluster)",
        )
        for d in deployments
    ]
    return rows, by_id
