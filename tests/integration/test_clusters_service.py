"""ClustersService against a real PostgreSQL (the ``engine`` fixture) and kmock's emulator."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from podwarden.engine import Engine, Settings
from podwarden.engine.db.urls import libpq_conninfo
from podwarden.engine.errors import (
    ConflictError,
    NotFoundError,
    PermanentServiceError,
    PermissionDenied,
    ProtectedResourceError,
    TemporaryServiceError,
    ValidationError,
)
from podwarden.engine.models.access import Secret
from podwarden.engine.models.fleet import Cluster, Host, HostSource, HostState
from podwarden.engine.models.services import IngressRule
from podwarden.engine.models.workloads import Deployment
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.clusters import ClustersService, kubeconfig_secret_name
from podwarden.engine.services.secrets import SecretsService
from tests.fakes import kube as fake_module
from tests.fakes.kube import (
    TEST_TOKEN,
    KubeAPI,
    make_event,
    make_namespace,
    make_node,
    make_pod,
    make_storage_class,
)

kube_api = fake_module.kube_api  # fixture

GUARD = 20.0


@pytest.fixture
async def clusters(engine: Engine) -> AsyncIterator[ClustersService]:
    service = ClustersService(engine.context)
    yield service
    await service.close()


def populate(api: KubeAPI) -> None:
    api.add("nodes", make_node("cp1", roles=["control-plane"]))
    api.add("nodes", make_node("gpu1", gpus=4, cpu="32", memory="128Gi"))
    for name in ("default", "kube-system", "apps"):
        api.add("namespaces", make_namespace(name))
    api.add("storageclasses", make_storage_class("local-path", default=True))
    for i in range(12):
        api.add("pods", make_pod("apps", f"web-{i:02d}"))
    api.add("events", make_event("apps", "e1", reason="Pulled", message="image pulled"))


async def add_hosts(engine: Engine, cluster_id: uuid.UUID, *network_types: list[str]) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    async with engine.context.db.unit_of_work() as uow:
        for index, types in enumerate(network_types):
            host = Host(
                hostname=f"node-{index}",
                source=HostSource.MANUAL,
                state=HostState.IN_CLUSTER,
                cluster_id=cluster_id,
                cluster_role="server" if index == 0 else "agent",
                protected=True,
                kubernetes_detected=index == 0,
                network_types=types,
            )
            uow.session.add(host)
            await uow.flush()
            ids.append(host.id)
    return ids


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- adding -------------------------------------------------------------------------------------
async def test_create_stores_the_kubeconfig_encrypted_and_contacts_nothing(
    clusters: ClustersService,
    engine: Engine,
    operator: Actor,
    admin: Actor,
    kube_api: KubeAPI,
    database_url: URL,
) -> None:
    info = await clusters.create_from_kubeconfig(
        operator, "home lab", kube_api.kubeconfig(), description="the rack in the garage"
    )
    assert kube_api.emulator.seen == []  # nothing contacted
    assert info.api_server == kube_api.url and info.context == "kmock"
    assert info.status == "unknown" and info.has_kubeconfig and not info.protected
    assert any("plain HTTP" in w for w in info.warnings)

    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        clusters_dump = conn.execute("SELECT string_agg(t::text, '') FROM clusters t").fetchone()[0]
        secrets_dump = conn.execute("SELECT string_agg(t::text, '') FROM secrets t").fetchone()[0]
        row = conn.execute("SELECT name, kind, ciphertext FROM secrets").fetchone()
    assert TEST_TOKEN not in clusters_dump
    assert TEST_TOKEN not in secrets_dump and "apiVersion" not in secrets_dump
    assert row[0] == kubeconfig_secret_name(info.id) and row[1] == "kubeconfig"
    assert TEST_TOKEN.encode() not in bytes(row[2])

    stored = yaml.safe_load((await SecretsService(engine.context).read_secret(admin, row[0])).reveal())
    assert stored["users"][0]["user"] == {"token": TEST_TOKEN}
    assert [c["name"] for c in stored["contexts"]] == ["kmock"]


async def test_bad_kubeconfig_stores_nothing(
    clusters: ClustersService, engine: Engine, operator: Actor
) -> None:
    for text in ("clusters: [", "apiVersion: v1\nkind: Config\n", "users: []\ncontexts: []\n"):
        with pytest.raises(ValidationError):
            await clusters.create_from_kubeconfig(operator, "broken", text)
    async with engine.context.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(Cluster))).scalar_one() == 0
        assert (await session.execute(select(func.count()).select_from(Secret))).scalar_one() == 0


async def test_names_and_roles(
    clusters: ClustersService, operator: Actor, viewer: Actor, kube_api: KubeAPI
) -> None:
    with pytest.raises(PermissionDenied):
        await clusters.create_from_kubeconfig(viewer, "lab", kube_api.kubeconfig())
    await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    with pytest.raises(ConflictError, match="already exists"):
        await clusters.create_from_kubeconfig(operator, "LAB", kube_api.kubeconfig())
    for bad in ("", " ", "-lab", "x" * 64, "lab/1"):
        with pytest.raises(ValidationError):
            await clusters.create_from_kubeconfig(operator, bad, kube_api.kubeconfig())
    assert [c.name for c in await clusters.list_clusters(viewer)] == ["lab"]


async def test_create_from_a_local_kubeconfig_context(
    clusters: ClustersService, operator: Actor, viewer: Actor, kube_api: KubeAPI, tmp_path: Path
) -> None:
    populate(kube_api)
    (tmp_path / "token").write_text(TEST_TOKEN + "\n")
    config = yaml.safe_load(kube_api.kubeconfig(context="garage"))
    config["users"][0]["user"] = {"tokenFile": "token"}
    config["contexts"].append({"name": "eks", "context": {"cluster": "eks", "user": "eks"}})
    config["clusters"].append({"name": "eks", "cluster": {"server": "https://eks.example.com"}})
    config["users"].append({"name": "eks", "user": {"exec": {"command": "aws"}}})
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))

    with pytest.raises(PermissionDenied):
        await clusters.list_kube_contexts(viewer, path)
    choices = {c.name: c for c in await clusters.list_kube_contexts(operator, path)}
    assert choices["garage"].problem is None and choices["garage"].current
    assert choices["eks"].problem is not None and "exec plugin" in choices["eks"].problem

    info = await clusters.create_from_context(operator, "garage", "garage", path)
    overview = await clusters.cluster_overview(viewer, info.id)
    assert len(overview.nodes) == 2
    with pytest.raises(ValidationError, match="exec plugin"):
        await clusters.create_from_context(operator, "eks", "eks", path)
    with pytest.raises(NotFoundError):
        await clusters.list_kube_contexts(operator, tmp_path / "missing")


# -- editing ------------------------------------------------------------------------------------
async def test_update_name_description_and_stale_versions(
    clusters: ClustersService, operator: Actor, kube_api: KubeAPI
) -> None:
    info = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    renamed = await clusters.update_cluster(
        operator, info.id, {"name": "lab-2", "description": "moved"}, expected_version=info.version
    )
    assert (renamed.name, renamed.description, renamed.version) == ("lab-2", "moved", info.version + 1)
    with pytest.raises(ConflictError):
        await clusters.update_cluster(
            operator, info.id, {"description": "stale"}, expected_version=info.version
        )
    with pytest.raises(ValidationError):
        await clusters.update_cluster(
            operator, info.id, {"api_server": "x"}, expected_version=renamed.version
        )
    with pytest.raises(ValidationError):
        await clusters.update_cluster(
            operator, info.id, {"context": "other"}, expected_version=renamed.version
        )
    with pytest.raises(NotFoundError):
        await clusters.update_cluster(operator, uuid.uuid4(), {"description": "x"}, expected_version=1)


async def test_replacing_the_kubeconfig_switches_the_cluster_client(
    clusters: ClustersService, engine: Engine, operator: Actor, viewer: Actor, kube_api: KubeAPI
) -> None:
    populate(kube_api)
    info = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    assert (await clusters.cluster_overview(viewer, info.id)).cluster.status == "reachable"
    dead = fake_module.kubeconfig_text(f"http://127.0.0.1:{closed_port()}")
    moved = await clusters.update_cluster(
        operator, info.id, {"kubeconfig": dead}, expected_version=info.version
    )
    assert moved.api_server != kube_api.url and moved.status == "unknown" and moved.kubernetes_version is None
    with pytest.raises(TemporaryServiceError):
        await clusters.cluster_overview(viewer, info.id)
    assert (await clusters.get_cluster(viewer, info.id)).status == "unreachable"

    # Another engine (another service over the same database) points it back; this one follows.
    other = ClustersService(engine.context)
    current = await other.get_cluster(viewer, info.id)
    await other.update_cluster(
        operator, info.id, {"kubeconfig": kube_api.kubeconfig()}, expected_version=current.version
    )
    await other.close()
    overview = await clusters.cluster_overview(viewer, info.id)
    assert overview.cluster.api_server == kube_api.url and overview.cluster.status == "reachable"


# -- protecting, previewing, deleting -----------------------------------------------------------
async def test_protected_cluster_cannot_be_deleted_and_only_admins_protect(
    clusters: ClustersService, operator: Actor, admin: Actor, kube_api: KubeAPI
) -> None:
    info = await clusters.create_from_kubeconfig(operator, "prod", kube_api.kubeconfig())
    with pytest.raises(PermissionDenied):
        await clusters.set_protected(operator, info.id, True)
    with pytest.raises(PermissionDenied):
        await clusters.delete_cluster(operator, info.id)
    protected = await clusters.set_protected(admin, info.id, True)
    assert protected.protected
    preview = await clusters.affected_by_delete(operator, info.id)
    assert preview.blocked and preview.protected
    with pytest.raises(ProtectedResourceError):
        await clusters.delete_cluster(admin, info.id)
    await clusters.get_cluster(admin, info.id)  # still there
    await clusters.set_protected(admin, info.id, False)
    await clusters.delete_cluster(admin, info.id)
    with pytest.raises(NotFoundError):
        await clusters.get_cluster(admin, info.id)


async def test_affected_preview_and_delete_release_hosts_and_keep_records(
    clusters: ClustersService, engine: Engine, operator: Actor, admin: Actor, kube_api: KubeAPI
) -> None:
    info = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    host_ids = await add_hosts(engine, info.id, ["mesh", "lan"], ["mesh"])
    async with engine.context.db.unit_of_work() as uow:
        deployment = Deployment(name="web", namespace="apps", cluster_id=info.id)
        rule = IngressRule(domain="web.example.com", path="/", cluster_id=info.id, backend_type="deployment")
        uow.session.add_all([deployment, rule])
        await uow.flush()
        deployment_id, rule_id = deployment.id, rule.id

    assert (await clusters.get_cluster(operator, info.id)).member_count == 2
    preview = await clusters.affected_by_delete(operator, info.id)
    assert not preview.blocked
    assert [(i.name, i.id) for i in preview.of_kind("deployment")] == [("apps/web", deployment_id)]
    assert {i.id for i in preview.of_kind("host")} == set(host_ids)
    assert "no longer protected" in preview.of_kind("host")[0].effect
    assert [i.name for i in preview.of_kind("ingress_rule")] == ["web.example.com/"]
    assert [i.name for i in preview.of_kind("secret")] == [kubeconfig_secret_name(info.id)]

    touched = await clusters.delete_cluster(admin, info.id, expected_version=info.version)
    assert touched.items == preview.items
    async with engine.context.db.session() as session:
        hosts = (await session.execute(select(Host).order_by(Host.hostname))).scalars().all()
        assert [(h.cluster_id, h.cluster_role, h.protected, h.state) for h in hosts] == [
            (None, None, False, HostState.PROVISIONED),
            (None, None, False, HostState.PROVISIONED),
        ]
        assert hosts[0].kubernetes_detected  # a probe fact; deleting the cluster does not change it
        kept = await session.get(Deployment, deployment_id)
        assert kept is not None and kept.cluster_id is None
        kept_rule = await session.get(IngressRule, rule_id)
        assert kept_rule is not None and kept_rule.cluster_id is None
        assert (await session.execute(select(func.count()).select_from(Secret))).scalar_one() == 0


async def test_delete_with_a_stale_version_is_a_conflict(
    clusters: ClustersService, operator: Actor, admin: Actor, kube_api: KubeAPI
) -> None:
    info = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    await clusters.update_cluster(operator, info.id, {"description": "x"}, expected_version=info.version)
    with pytest.raises(ConflictError):
        await clusters.delete_cluster(admin, info.id, expected_version=info.version)


async def test_network_capability_is_the_intersection(
    clusters: ClustersService, engine: Engine, operator: Actor, viewer: Actor, kube_api: KubeAPI
) -> None:
    info = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    assert await clusters.network_capability(viewer, info.id) == frozenset()
    await add_hosts(engine, info.id, ["mesh", "lan"], ["mesh", "lan", "public"], ["lan", "mesh"])
    assert await clusters.network_capability(viewer, info.id) == frozenset({"mesh", "lan"})
    await add_hosts(engine, info.id, ["public"])
    assert await clusters.network_capability(viewer, info.id) == frozenset()
    with pytest.raises(NotFoundError):
        await clusters.network_capability(viewer, uuid.uuid4())


# -- looking inside -----------------------------------------------------------------------------
async def test_overview_records_what_it_saw_without_bumping_the_version(
    clusters: ClustersService, operator: Actor, viewer: Actor, kube_api: KubeAPI
) -> None:
    populate(kube_api)
    info = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    overview = await clusters.cluster_overview(viewer, info.id)
    assert overview.version.git_version == "v1.33.5+k3s1"
    assert {n.name for n in overview.nodes} == {"cp1", "gpu1"}
    assert overview.gpu_allocatable == 4 and overview.ready_nodes == 2
    assert [n.name for n in overview.namespaces] == ["apps", "default", "kube-system"]
    assert overview.default_storage_class == "local-path"
    assert overview.cluster.status == "reachable"
    assert overview.cluster.kubernetes_version == "v1.33.5+k3s1"
    assert overview.cluster.last_seen_at is not None
    assert overview.cluster.version == info.version  # not an edit: an open editor does not go stale
    await clusters.update_cluster(
        operator, info.id, {"description": "still fine"}, expected_version=info.version
    )


async def test_pods_events_and_logs(
    clusters: ClustersService, operator: Actor, viewer: Actor, kube_api: KubeAPI
) -> None:
    populate(kube_api)
    kube_api.emulator.logs[("apps", "web-03")] = [f"request {i}" for i in range(50)]
    info = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    page = await clusters.list_pods_page(viewer, info.id, namespace="apps", limit=5)
    assert [p.name for p in page.items] == [f"web-{i:02d}" for i in range(5)]
    page2 = await clusters.list_pods_page(
        viewer, info.id, namespace="apps", limit=5, continue_token=page.continue_token
    )
    assert page2.items[0].name == "web-05"
    assert [e.reason for e in await clusters.events(viewer, info.id)] == ["Pulled"]
    assert await clusters.pod_logs(viewer, info.id, "apps", "web-03", tail_lines=2) == [
        "request 48",
        "request 49",
    ]

    stream = await clusters.follow_pod_logs(viewer, info.id, "apps", "web-03", tail_lines=1)
    assert await asyncio.wait_for(anext(stream), GUARD) == "request 49"
    await kube_api.emulator.append_log("apps", "web-03", "request 50")
    assert await asyncio.wait_for(anext(stream), GUARD) == "request 50"
    await asyncio.wait_for(stream.aclose(), GUARD)
    deadline = asyncio.get_running_loop().time() + 5
    while kube_api.emulator.log_streams_closed < 1:
        assert asyncio.get_running_loop().time() < deadline, "the follow stream stayed open"
        await asyncio.sleep(0.02)


async def test_introspection_errors_are_typed_and_recorded(
    clusters: ClustersService, operator: Actor, viewer: Actor, kube_api: KubeAPI
) -> None:
    populate(kube_api)
    kube_api.emulator.forbidden.add("nodes")
    info = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    with pytest.raises(PermanentServiceError, match="403"):
        await clusters.cluster_overview(viewer, info.id)
    assert (await clusters.get_cluster(viewer, info.id)).status == "rejected"
    with pytest.raises(NotFoundError):
        await clusters.pod_logs(viewer, info.id, "apps", "ghost")
    with pytest.raises(NotFoundError):
        await clusters.cluster_overview(viewer, uuid.uuid4())


async def test_an_engine_start_contacts_no_cluster(
    settings: Settings, operator: Actor, viewer: Actor, kube_api: KubeAPI
) -> None:
    async with Engine(settings) as first:
        service = ClustersService(first.context)
        await service.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
        await service.close()
    async with Engine(settings) as second:
        service = ClustersService(second.context)
        assert [c.name for c in await service.list_clusters(viewer)] == ["lab"]
        await service.close()
    assert kube_api.emulator.seen == []
