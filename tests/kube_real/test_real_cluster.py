"""Opt-in: the same flows against a real cluster.

Runs only when ``PODWARDEN_TEST_KUBECONFIG`` names a kubeconfig file (its current
context, or ``PODWARDEN_TEST_KUBE_CONTEXT``). Reads nodes, namespaces, pods, events,
logs; the write test works in a throwaway namespace ``podwarden-test-<random>``
and deletes it afterwards. Example::

    PODWARDEN_TEST_KUBECONFIG=~/.kube/config pytest -q -m kube tests/kube_real
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podwarden.engine import Engine
from podwarden.engine.adapters.kube import KubeClient
from podwarden.engine.errors import NotFoundError
from podwarden.engine.parsers.kubeconfig import load_kubeconfig_file, minimal_kubeconfig
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.clusters import ClustersService

KUBECONFIG = os.environ.get("PODWARDEN_TEST_KUBECONFIG", "")
CONTEXT = os.environ.get("PODWARDEN_TEST_KUBE_CONTEXT") or None

pytestmark = [
    pytest.mark.kube,
    pytest.mark.skipif(not KUBECONFIG, reason="set PODWARDEN_TEST_KUBECONFIG to run against a real cluster"),
]

GUARD = 60.0


@pytest.fixture
async def client() -> AsyncIterator[KubeClient]:
    parsed = load_kubeconfig_file(Path(KUBECONFIG).expanduser(), CONTEXT)
    kube = KubeClient(minimal_kubeconfig(parsed), request_timeout=20, label="real")
    yield kube
    await kube.aclose()


async def test_version_nodes_namespaces_storage(client: KubeClient) -> None:
    version = await client.server_version()
    assert version.known, version.note
    nodes = await client.list_nodes()
    assert nodes
    for node in nodes:
        assert node.cpu_allocatable_millicores and node.memory_allocatable_bytes
        assert any(c.type == "Ready" for c in node.conditions)
        assert node.gpu_allocatable <= node.gpu_capacity
    names = {n.name for n in await client.list_namespaces()}
    assert {"default", "kube-system"} <= names
    await client.list_storage_classes()


async def test_pod_paging_matches_one_big_page(client: KubeClient) -> None:
    big = await client.list_pods_page("kube-system", 5000)
    assert big.continue_token is None
    small = [page async for page in client.iter_pod_pages("kube-system", page_size=2)]
    assert all(len(page.items) <= 2 for page in small)
    if len(big.items) > 2:
        assert small[0].continue_token is not None
    assert sorted(p.name for page in small for p in page.items) == sorted(p.name for p in big.items)


async def test_events_and_missing_objects(client: KubeClient) -> None:
    await client.list_events(limit=20)
    with pytest.raises(NotFoundError):
        await client.get("v1", "ConfigMap", f"podwarden-missing-{secrets.token_hex(4)}", "default")


async def test_logs_tail_and_follow(client: KubeClient) -> None:
    pods = [p for p in await client.list_pods("kube-system") if p.phase == "Running"]
    if not pods:
        pytest.skip("no running pod in kube-system to read logs from")
    pod = pods[0]
    lines = await client.pod_logs(pod.namespace, pod.name, tail_lines=5)
    assert len(lines) <= 5
    if not lines:
        return
    stream = client.follow_logs(pod.namespace, pod.name, tail_lines=1)
    assert isinstance(await asyncio.wait_for(anext(stream), GUARD), str)
    await asyncio.wait_for(stream.aclose(), GUARD)
    assert not [t for t in threading.enumerate() if t.name.startswith("podwarden-kube-logs")]


async def test_apply_get_list_delete_in_a_throwaway_namespace(client: KubeClient) -> None:
    namespace = f"podwarden-test-{secrets.token_hex(3)}"
    labels = {"app.kubernetes.io/managed-by": "podwarden", "podwarden.test": namespace}
    await client.server_side_apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace, "labels": labels},
            "data": {"greeting": "hello"},
        }
        await client.server_side_apply(config_map, dry_run=True)
        with pytest.raises(NotFoundError):
            await client.get("v1", "ConfigMap", "settings", namespace)
        applied = await client.server_side_apply(config_map)
        assert applied["metadata"]["uid"]
        found = await client.list_by_label("v1", "ConfigMap", labels, namespace)
        assert [o["metadata"]["name"] for o in found] == ["settings"]
        assert await client.delete("v1", "ConfigMap", "settings", namespace)
    finally:
        await client.delete("v1", "Namespace", namespace)


async def test_clusters_service_from_the_local_context(engine: Engine, admin: Actor) -> None:
    service = ClustersService(engine.context)
    try:
        context = CONTEXT or load_kubeconfig_file(Path(KUBECONFIG).expanduser()).context.name
        info = await service.create_from_context(admin, "real", context, Path(KUBECONFIG).expanduser())
        overview = await service.cluster_overview(admin, info.id)
        assert overview.nodes and overview.cluster.status == "reachable"
        page = await service.list_pods_page(admin, info.id, namespace="kube-system", limit=2)
        assert len(page.items) <= 2
    finally:
        await service.close()
