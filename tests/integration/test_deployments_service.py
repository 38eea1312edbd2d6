"""DeploymentsService against a real PostgreSQL and kmock's Kubernetes emulator.

kmock runs no controllers, so a Deployment's status never changes by itself. The
``controller`` fixture plays the Deployment controller's part honestly and
visibly: it watches the emulator through the API and, for each Deployment
PodWarden applied, writes a status saying every replica is updated, ready and
available (a server-side apply of ``status`` by another field manager, which
kmock merges into the object). The deploy service's rollout wait itself is
unchanged: it polls the status until it is ready or the timeout ends. A test
without the controller shows the wait does not pretend (it times out).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from podwarden.engine import Engine
from podwarden.engine.adapters.kube import KubeClient
from podwarden.engine.errors import NotFoundError, PermissionDenied, PodWardenError, ValidationError
from podwarden.engine.models.jobs import JobState
from podwarden.engine.render.naming import DEPLOYMENT_ID_LABEL, MANAGED_BY_LABEL
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.clusters import ClustersService
from podwarden.engine.services.deployments import DeploymentsService, env_secret_name
from podwarden.engine.services.jobs import JobsService
from podwarden.engine.services.secrets import SecretsService
from podwarden.engine.services.stacks import StacksService
from tests.fakes import kube as fake_module
from tests.fakes.kube import KubeAPI, make_node, make_pod

kube_api = fake_module.kube_api  # fixture

NS = "shop"


@dataclasses.dataclass
class World:
    engine: Engine
    api: KubeAPI
    clusters: ClustersService
    stacks: StacksService
    deployments: DeploymentsService
    jobs: JobsService
    kube: KubeClient
    cluster_id: Any


@pytest.fixture
async def world(engine: Engine, kube_api: KubeAPI, admin: Actor) -> AsyncIterator[World]:
    kube_api.add("nodes", make_node("n1", cpu="4", memory="8Gi"))
    secrets = SecretsService(engine.context)
    clusters = ClustersService(engine.context, secrets)
    jobs = JobsService(engine.context)
    cluster = await clusters.create_from_kubeconfig(admin, "lab", kube_api.kubeconfig())
    deployments = DeploymentsService(
        engine.context, clusters=clusters, secrets=secrets, jobs=jobs, rollout_poll=0.05
    )
    kube = KubeClient(kube_api.kubeconfig(), request_timeout=5)
    yield World(
        engine, kube_api, clusters, StacksService(engine.context), deployments, jobs, kube, cluster.id
    )
    await kube.aclose()
    await clusters.close()


async def _mark_ready(kube: KubeClient) -> None:
    for obj in await kube.list_by_label("apps/v1", "Deployment", f"{MANAGED_BY_LABEL}=podwarden"):
        meta, want = obj["metadata"], int(obj.get("spec", {}).get("replicas", 1))
        status = obj.get("status") or {}
        if status.get("readyReplicas") == want and status.get("availableReplicas") == want:
            continue
        await kube.server_side_apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "status": {
                    "replicas": want,
                    "updatedReplicas": want,
                    "readyReplicas": want,
                    "availableReplicas": want,
                },
            },
            "test-controller",
        )


@pytest.fixture
async def controller(world: World) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            # A request cut off by teardown (or a busy emulator) is simply tried again.
            with contextlib.suppress(PodWardenError):
                await _mark_ready(world.kube)
            await asyncio.sleep(0.05)

    task = asyncio.ensure_future(loop())
    yield
    task.cancel()
    # Do not wait on a request stuck in its worker thread: closing the emulator ends it.
    await asyncio.wait({task}, timeout=5)


def web(**extra: Any) -> dict[str, Any]:
    return {
        "name": "web",
        "image": "nginx",
        "image_tag": "1.27",
        "ports": [{"name": "http", "container_port": 80}],
        "env_schema": [
            {"name": "GREETING", "default_value": "hello"},
            {"name": "API_TOKEN", "generate": True, "secret": True},
        ],
        **extra,
    }


async def make(w: World, actor: Actor, stack: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    info = await w.stacks.create_stack(actor, stack or web())
    return await w.deployments.create_deployment(
        actor, name="web", stack_id=info.id, cluster_id=w.cluster_id, namespace=NS, **kwargs
    )


async def test_deploy_applies_labelled_objects_and_records_a_succeeded_revision(
    world: World, controller: None, operator: Actor
) -> None:
    dep = await make(world, operator)
    result = await world.deployments.deploy(operator, dep.id)
    assert (result.state, result.result, result.revision) == (JobState.SUCCEEDED, "succeeded", 1)
    live = await world.kube.get("apps/v1", "Deployment", "web", NS)
    assert live["metadata"]["labels"][MANAGED_BY_LABEL] == "podwarden"
    assert live["metadata"]["labels"][DEPLOYMENT_ID_LABEL] == str(dep.id)
    service = await world.kube.get("v1", "Service", "web", NS)
    assert service["metadata"]["labels"][MANAGED_BY_LABEL] == "podwarden"
    applies = [r for r in world.api.emulator.seen if r.method == "PATCH" and "apply-patch" in r.content_type]
    assert applies and all(r.query.get("fieldManager") in ("podwarden", "test-controller") for r in applies)
    output = await world.jobs.read_output(operator, result.job_id)
    assert "applied Deployment shop/web" in output and "1/1 ready" in output
    # the generated secret is kept encrypted, reused by the next deploy, and never printed
    token = (await SecretsService(world.engine.context).reveal(env_secret_name(dep.id))).reveal()
    generated = json.loads(token)["API_TOKEN"]
    assert generated not in output
    secret = await world.kube.get("v1", "Secret", "web-env", NS)
    assert base64.b64decode(secret["data"]["API_TOKEN"]).decode() == generated
    [rev] = await world.deployments.history(operator, dep.id)
    assert rev.result == "succeeded" and rev.actor == operator.label
    assert rev.inputs["secret_env_names"] == ["API_TOKEN"] and generated not in str(rev.inputs)
    assert generated not in str(rev.manifests)
    second = await world.deployments.deploy(operator, dep.id)
    assert second.result == "succeeded"
    again = await world.kube.get("v1", "Secret", "web-env", NS)
    assert base64.b64decode(again["data"]["API_TOKEN"]).decode() == generated
    info = await world.deployments.get_deployment(operator, dep.id)
    assert (info.status, info.current_revision, info.secret_env_names) == ("deployed", 2, ["API_TOKEN"])


async def test_plan_create_then_noop_then_update(world: World, controller: None, operator: Actor) -> None:
    dep = await make(world, operator, env_values={"GREETING": "hello"})
    plan = await world.deployments.plan(operator, dep.id)
    assert set(plan.actions().values()) == {"create"}
    assert "Deployment shop/web" in plan.actions()
    secret = next(m for m in plan.manifests if m["kind"] == "Secret")
    assert all(base64.b64decode(v).decode() == "********" for v in secret["data"].values())
    await world.deployments.deploy(operator, dep.id)
    plan = await world.deployments.plan(operator, dep.id)
    assert set(plan.actions().values()) == {"unchanged"}, plan.changes
    assert not plan.has_changes
    await world.deployments.update_deployment(operator, dep.id, env_values={"GREETING": "bonjour"})
    plan = await world.deployments.plan(operator, dep.id)
    changed = {ref: c for ref, c in plan.actions().items() if c != "unchanged"}
    assert changed == {"Deployment shop/web": "update"}
    [change] = [c for c in plan.changes if c.action == "update"]
    assert "-" in change.diff and "+              value: bonjour" in change.diff


async def test_prune_removes_a_dropped_service(world: World, controller: None, operator: Actor) -> None:
    dep = await make(world, operator)
    await world.deployments.deploy(operator, dep.id)
    await world.kube.get("v1", "Service", "web", NS)
    await world.stacks.update_stack(operator, dep.stack_id, web(ports=[]))
    plan = await world.deployments.plan(operator, dep.id)
    assert plan.actions()["Service shop/web"] == "prune"
    result = await world.deployments.deploy(operator, dep.id)
    assert result.result == "succeeded" and result.pruned == ["Service shop/web"]
    remaining = await world.kube.list_by_label("v1", "Service", f"{DEPLOYMENT_ID_LABEL}={dep.id}", NS)
    assert remaining == []


async def test_undeploy_keeps_a_retained_pvc(world: World, controller: None, operator: Actor) -> None:
    volumes = [
        {"type": "pvc", "name": "data", "mount_path": "/data", "size": "1Gi", "retain_on_undeploy": True},
        {"type": "pvc", "name": "cache", "mount_path": "/cache", "size": "1Gi", "retain_on_undeploy": False},
    ]
    dep = await make(world, operator, web(volumes=volumes))
    assert (await world.deployments.deploy(operator, dep.id)).result == "succeeded"
    claims = await world.kube.list_by_label(
        "v1", "PersistentVolumeClaim", f"{DEPLOYMENT_ID_LABEL}={dep.id}", NS
    )
    assert sorted(c["metadata"]["name"] for c in claims) == ["web-cache", "web-data"]
    deleted = await world.deployments.undeploy(operator, dep.id)
    assert "PersistentVolumeClaim shop/web-cache" in deleted and "Deployment shop/web" in deleted
    left = await world.kube.list_by_label(
        "v1", "PersistentVolumeClaim", f"{DEPLOYMENT_ID_LABEL}={dep.id}", NS
    )
    assert [c["metadata"]["name"] for c in left] == ["web-data"]
    for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "Secret")):
        assert await world.kube.list_by_label(api_version, kind, f"{DEPLOYMENT_ID_LABEL}={dep.id}", NS) == []
    assert (await world.deployments.get_deployment(operator, dep.id)).status == "undeployed"


async def test_rollback_is_a_new_revision_with_the_old_inputs(
    world: World, controller: None, operator: Actor
) -> None:
    dep = await make(world, operator, env_values={"GREETING": "one"}, replicas=2)
    await world.deployments.deploy(operator, dep.id)
    await world.deployments.update_deployment(operator, dep.id, env_values={"GREETING": "two"}, replicas=3)
    await world.stacks.update_stack(operator, dep.stack_id, web(image_tag="1.28"))
    await world.deployments.deploy(operator, dep.id)
    result = await world.deployments.rollback(operator, dep.id, 1)
    assert (result.revision, result.result) == (3, "succeeded")
    history = await world.deployments.history(operator, dep.id)
    assert [r.revision for r in history] == [3, 2, 1]
    assert history[0].inputs == history[2].inputs and history[0].rollback_of == 1
    assert history[1].inputs != history[2].inputs
    live = await world.kube.get("apps/v1", "Deployment", "web", NS)
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27" and live["spec"]["replicas"] == 2
    assert {"name": "GREETING", "value": "one"} in container["env"]


async def test_a_failed_apply_is_a_failed_revision_with_the_reason(world: World, operator: Actor) -> None:
    dep = await make(world, operator)
    world.api.emulator.forbidden.add("deployments")
    result = await world.deployments.deploy(operator, dep.id)
    assert (result.state, result.result) == (JobState.FAILED, "failed")
    assert "forbidden" in result.reason.lower() or "permission" in result.reason.lower()
    [rev] = await world.deployments.history(operator, dep.id)
    assert rev.result == "failed" and rev.reason == result.reason
    job = await world.jobs.get_job(operator, result.job_id)
    assert job.state is JobState.FAILED
    info = await world.deployments.get_deployment(operator, dep.id)
    assert info.status == "failed" and info.status_message == result.reason


async def test_without_a_controller_the_rollout_wait_times_out_as_failed(
    world: World, operator: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeouts = world.engine.context.settings.timeouts.model_copy(update={"kube_rollout": 0.3})
    monkeypatch.setattr(
        world.engine.context,
        "settings",
        world.engine.context.settings.model_copy(update={"timeouts": timeouts}),
    )
    dep = await make(world, operator)
    result = await world.deployments.deploy(operator, dep.id)
    assert result.result == "failed" and "did not finish its rollout" in result.reason
    output = await world.jobs.read_output(operator, result.job_id)
    assert "0/1 ready" in output
    [rev] = await world.deployments.history(operator, dep.id)
    assert rev.result == "failed"


async def test_preflight_warns_about_a_gpu_on_a_gpu_less_cluster(world: World, operator: Actor) -> None:
    dep = await make(world, operator, web(resources={"gpu_count": 1}))
    warnings = await world.deployments.preflight(operator, dep.id)
    codes = {w.code for w in warnings}
    assert "capacity.gpu" in codes, warnings
    gpu = next(w for w in warnings if w.code == "capacity.gpu")
    assert "gpu" in gpu.message.lower()
    info = await world.stacks.create_stack(operator, web(name="plain"))
    plain = await world.deployments.create_deployment(
        operator, name="plain", stack_id=info.id, cluster_id=world.cluster_id, namespace=NS
    )
    assert not any(
        w.code.startswith("capacity.") for w in await world.deployments.preflight(operator, plain.id)
    )


def _busy_pod(name: str, node: str, cpu: str, memory: str, *, phase: str = "Running",
              labels: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    pod = make_pod("other", name, node=node, phase=phase, **(labels or {"app": name}))
    pod["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu, "memory": memory}}
    return pod


async def test_preflight_counts_what_pods_already_request_on_a_full_node(
    world: World, operator: Actor
) -> None:
    # n1 has 4 CPU / 8Gi allocatable; running pods there already request 3500m / 6Gi.
    world.api.add("pods", _busy_pod("db-0", "n1", "3", "4Gi"))
    world.api.add("pods", _busy_pod("cache-0", "n1", "500m", "2Gi", phase="Pending"))
    world.api.add("pods", _busy_pod("done-0", "n1", "4", "8Gi", phase="Succeeded"))  # holds nothing
    dep = await make(world, operator, web(resources={"cpu_request": "1", "memory_request": "1Gi"}))
    warnings = await world.deployments.preflight(operator, dep.id)
    cpu = next(w for w in warnings if w.code == "capacity.cpu")
    assert "free is 0.5 CPU" in cpu.message
    assert "node n1: 4 CPU allocatable, 3.5 CPU requested by its pods; 0.5 CPU short" in cpu.message
    assert not any(w.code == "capacity.memory" for w in warnings), warnings  # 1Gi of 2Gi free fits


async def test_preflight_leaves_the_deployments_own_pods_out(world: World, operator: Actor) -> None:
    dep = await make(world, operator, web(resources={"cpu_request": "3"}))
    own = {DEPLOYMENT_ID_LABEL: str(dep.id), "app": "web"}
    world.api.add("pods", _busy_pod("web-1", "n1", "3", "1Gi", labels=own))  # replaced by a re-deploy
    assert not any(
        w.code.startswith("capacity.") for w in await world.deployments.preflight(operator, dep.id)
    )
    world.api.add("pods", _busy_pod("other-1", "n1", "2", "1Gi"))
    warnings = await world.deployments.preflight(operator, dep.id)
    assert "1 CPU short" in next(w for w in warnings if w.code == "capacity.cpu").message


async def test_update_config_file_reapplies_its_configmap_and_restarts(
    world: World, controller: None, operator: Actor
) -> None:
    slot = {"name": "conf", "key": "app.conf", "mount_path": "/etc/app.conf", "default_content": "a=1\n"}
    dep = await make(world, operator, web(config_slots=[slot]))
    await world.deployments.deploy(operator, dep.id)
    before = await world.kube.get("apps/v1", "Deployment", "web", NS)
    rev = await world.deployments.update_config_file(operator, dep.id, "conf", "a=2\n")
    assert rev.revision == 2 and rev.result == "succeeded"
    config = await world.kube.get("v1", "ConfigMap", "web-conf", NS)
    assert config["data"]["app.conf"] == "a=2\n"
    after = await world.kube.get("apps/v1", "Deployment", "web", NS)
    key = "podwarden.io/config-hash"
    assert (
        after["spec"]["template"]["metadata"]["annotations"][key]
        != (before["spec"]["template"]["metadata"]["annotations"][key])
    )
    assert (await world.deployments.get_deployment(operator, dep.id)).config_values == {"conf": "a=2\n"}


async def test_roles(world: World, operator: Actor, viewer: Actor) -> None:
    dep = await make(world, operator)
    assert (await world.deployments.get_deployment(viewer, dep.id)).name == "web"
    await world.deployments.plan(viewer, dep.id)
    for call in (
        world.deployments.deploy(viewer, dep.id),
        world.deployments.undeploy(viewer, dep.id),
        world.deployments.rollback(viewer, dep.id, 1),
        world.deployments.update_config_file(viewer, dep.id, "conf", "x"),
    ):
        with pytest.raises(PermissionDenied):
            await call
    assert await world.deployments.history(viewer, dep.id) == []
    assert await world.kube.list_by_label("apps/v1", "Deployment", f"{DEPLOYMENT_ID_LABEL}={dep.id}") == []


async def test_invalid_deployment_input_is_refused_and_nothing_changes(world: World, operator: Actor) -> None:
    info = await world.stacks.create_stack(operator, web())
    with pytest.raises(ValidationError):
        await world.deployments.create_deployment(
            operator, name="Bad Name!", stack_id=info.id, cluster_id=world.cluster_id, namespace=NS
        )
    assert await world.deployments.list_deployments(operator) == []
    dep = await world.deployments.create_deployment(
        operator, name="web", stack_id=info.id, cluster_id=world.cluster_id, namespace=NS
    )
    with pytest.raises(ValidationError):
        await world.deployments.update_deployment(operator, dep.id, replicas=-1, expected_version=dep.version)
    with pytest.raises(ValidationError):
        await world.deployments.update_deployment(operator, dep.id, placement={"hostname": ""})
    again = await world.deployments.get_deployment(operator, dep.id)
    assert (again.replicas, again.version, again.placement) == (1, dep.version, {})


async def test_compose_aliases_feed_the_deployment(world: World, controller: None, operator: Actor) -> None:
    compose = "services:\n  db:\n    image: postgres:16\n    expose: ['5432']\n"
    result = await world.stacks.import_compose(operator, compose, "shop")
    [stack] = result.stacks
    aliases = result.aliases[stack.name]
    assert aliases, result
    dep = await world.deployments.create_deployment(
        operator, name=stack.name, stack_id=stack.id, cluster_id=world.cluster_id, namespace=NS,
        service_aliases=aliases,
    )  # fmt: skip
    assert (await world.deployments.deploy(operator, dep.id)).result == "succeeded"
    services = await world.kube.list_by_label("v1", "Service", f"{DEPLOYMENT_ID_LABEL}={dep.id}", NS)
    names = {s["metadata"]["name"] for s in services}
    assert set(aliases) <= names and len(names) == len(set(aliases) | {stack.name})


async def test_aliases_live_in_their_own_column(world: World, operator: Actor) -> None:
    from sqlalchemy import select

    from podwarden.engine.models.workloads import Deployment

    async def stored() -> tuple[dict[str, Any], list[str]]:
        async with world.engine.db.session() as session:
            row = (await session.execute(select(Deployment).where(Deployment.id == dep.id))).scalar_one()
            return dict(row.placement), list(row.service_aliases)

    dep = await make(world, operator, service_aliases=["db", "postgres"])
    assert (dep.placement, dep.service_aliases) == ({}, ["db", "postgres"])
    assert await stored() == ({}, ["db", "postgres"])
    dep = await world.deployments.update_deployment(operator, dep.id, placement={"hostname": "n1"})
    assert await stored() == ({"hostname": "n1"}, ["db", "postgres"])  # placement alone changed
    dep = await world.deployments.update_deployment(operator, dep.id, service_aliases=["cache"])
    assert await stored() == ({"hostname": "n1"}, ["cache"])
    plan = await world.deployments.plan(operator, dep.id)
    assert "Service shop/cache" in plan.actions()


async def test_a_job_stack_waits_for_completion(world: World, operator: Actor) -> None:
    job_stack = {"name": "migrate", "kind": "job", "image": "busybox", "image_tag": "1.36", "args": ["true"]}
    info = await world.stacks.create_stack(operator, job_stack)
    dep = await world.deployments.create_deployment(
        operator, name="migrate", stack_id=info.id, cluster_id=world.cluster_id, namespace=NS
    )

    async def complete() -> None:  # the Job controller's part, through the API
        while True:
            with contextlib.suppress(NotFoundError):
                await world.kube.get("batch/v1", "Job", "migrate", NS)
                status = {"succeeded": 1, "active": 0}
                body = {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": "migrate", "namespace": NS},
                }
                await world.kube.server_side_apply({**body, "status": status}, "test-controller")
                return
            await asyncio.sleep(0.05)

    task = asyncio.ensure_future(complete())
    result = await world.deployments.deploy(operator, dep.id)
    await task
    assert result.result == "succeeded", result.reason
    output = await world.jobs.read_output(operator, result.job_id)
    assert "1/1 completed" in output
