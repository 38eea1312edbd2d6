"""Sample deployments for screenshots and demos (through the engine's services only).

    ids = await seed_deployments(engine, admin)   # after seed_stacks (reuses whisper-api)
    written += await render_deployments(window, engine, admin, outdir, slug)

The cluster's kubeconfig points at an address that is never contacted: the list, the
detail and the inputs need only the database (plan, deploy and the pods tab would
reach for the cluster). Every deployment is a draft; a screenshot showing deployed
ones and their history needs revisions, which only a deploy writes.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from podwarden.engine import Actor, Engine
from podwarden.engine.services.stacks import StackInfo

SAMPLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: edge
  cluster: {server: "https://edge.example.invalid:6443"}
users:
- name: edge-admin
  user: {token: sample-token-not-used}
contexts:
- name: edge
  context: {cluster: edge, user: edge-admin}
current-context: edge
"""

WHISPER: dict[str, Any] = {
    "name": "whisper-api",
    "description": "Speech to text behind an HTTP API",
    "image": "ghcr.io/acme/whisper-api",
    "image_tag": "2.3.1",
    "ports": [{"name": "http", "container_port": 8000}],
    "resources": {"gpu_count": 1, "memory_request": "8Gi"},
    "env_schema": [
        {"name": "MODEL", "required": True, "default_value": "large-v3", "description": "Model to load"},
        {"name": "API_KEY", "generate": True, "secret": True, "description": "Clients send it"},
        {"name": "HF_TOKEN", "secret": True, "description": "Hugging Face token"},
    ],
    "config_slots": [
        {"name": "server", "key": "server.yaml", "mount_path": "/etc/whisper/server.yaml",
         "file_type": "yaml", "default_content": "workers: 2\nlog_level: info\n"},
    ],
}  # fmt: skip

GRAFANA: dict[str, Any] = {
    "name": "grafana",
    "image": "grafana/grafana",
    "image_tag": "11.2.0",
    "ports": [{"name": "http", "container_port": 3000}],
    "env_schema": [{"name": "GF_SECURITY_ADMIN_PASSWORD", "generate": True, "secret": True}],
}


async def _stack(engine: Engine, admin: Actor, doc: dict[str, Any]) -> StackInfo:
    """The sample stack of that name: the one already stored (other samples), else a new one."""
    listing = await engine.stacks.list_stacks(admin, name_contains=doc["name"])
    for info in listing.items:
        if info.name == doc["name"]:
            return info
    return await engine.stacks.create_stack(admin, doc)


async def _deploy(engine: Engine, admin: Actor, stack: StackInfo, cluster: uuid.UUID, **kw: Any) -> uuid.UUID:
    """A draft deployment; values the stack does not ask for are left out."""
    env = {e.name for e in stack.stack.env_schema}
    slots = {c.name for c in stack.stack.config_slots}
    for key, allowed in (("env_values", env), ("secret_values", env), ("config_values", slots)):
        kw[key] = {k: v for k, v in (kw.get(key) or {}).items() if k in allowed}
    info = await engine.deployments.create_deployment(admin, stack_id=stack.id, cluster_id=cluster, **kw)
    return info.id


async def seed_deployments(engine: Engine, admin: Actor) -> list[uuid.UUID]:
    """A cluster, two stacks (reused when the stack samples stored them) and three
    draft deployments; returns the deployments' ids."""
    cluster = (await engine.clusters.create_from_kubeconfig(admin, "edge", SAMPLE_KUBECONFIG)).id
    whisper = await _stack(engine, admin, WHISPER)
    grafana = await _stack(engine, admin, GRAFANA)
    return [
        await _deploy(
            engine, admin, whisper, cluster, name="whisper-api", namespace="ai", replicas=2,
            env_values={"MODEL": "medium"}, secret_values={"HF_TOKEN": "hf_sample"},
            config_values={"server": "workers: 4\nlog_level: debug\n"},
            placement={"node_selector": {"nvidia.com/gpu.present": "true"}},
        ),
        await _deploy(
            engine, admin, whisper, cluster, name="whisper-staging", namespace="staging",
            placement={"hostname": "gpu-node-01"},
        ),
        await _deploy(engine, admin, grafana, cluster, name="grafana", namespace="monitoring"),
    ]  # fmt: skip


async def render_deployments(
    window: Any, engine: Engine, actor: Actor, outdir: Path, slug: str
) -> list[Path]:
    """PNGs of the Deployments view (``window.views["Deployments"]``, wired and selected)
    after :func:`seed_deployments`: the first deployment's inputs, then its edit dialog."""
    from podwarden.ui.views.deployments import DeploymentsView

    view = window.views["Deployments"]
    assert isinstance(view, DeploymentsView)
    written: list[Path] = []

    async def shot(widget: Any, name: str) -> None:
        await window.op_runner.wait_idle()
        await asyncio.sleep(0.15)
        path = outdir / f"{slug}-{name}.png"
        if not widget.grab().save(str(path)):
            raise OSError(f"Could not write {path}.")
        written.append(path)

    view.reload()
    await window.op_runner.wait_idle()
    if view.model.rowCount():
        view.table.selectRow(0)
    await shot(window, "inputs")
    dialog = view.edit_selected()
    if dialog is not None:
        await shot(dialog, "edit")
        dialog.tabs.setCurrentIndex(1)
        await shot(dialog, "edit-environment")
        dialog.reject()
    return written
