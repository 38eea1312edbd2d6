"""The Kubernetes adapter against kmock's emulator on a loopback port (tests/fakes/kube.py).

Every test talks over a real socket through the real ``kubernetes`` client; the
emulator's gaps (paging, label selectors, namespaces, logs, apply-create, /version/)
are closed in the fake, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import kmock
import kubernetes
import pytest

from podwarden.engine.adapters.kube import KubeClient
from podwarden.engine.errors import (
    ConflictError,
    ExternalServiceError,
    NotFoundError,
    PermanentServiceError,
    PermissionDenied,
    TemporaryServiceError,
    ValidationError,
)
from tests.fakes import kube as fake_module
from tests.fakes.kube import (
    KubeAPI,
    TlsMaterial,
    make_event,
    make_namespace,
    make_node,
    make_pod,
    make_storage_class,
    tls_material,
)

kube_api = fake_module.kube_api  # fixtures
kube_api_tls = fake_module.kube_api_tls

GUARD = 20.0  # seconds: a hung call fails the test instead of hanging it


def client_for(api: KubeAPI, **kwargs: object) -> KubeClient:
    return KubeClient(api.kubeconfig(**kwargs), request_timeout=5, label="lab")  # type: ignore[arg-type]


def reader_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("podwarden-kube-logs")]


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """Accepts TCP connections (the kernel's backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


# -- laziness and configuration -----------------------------------------------------------------
async def test_constructing_a_client_contacts_nothing(kube_api: KubeAPI) -> None:
    client = client_for(kube_api)
    assert not client.connected
    assert kube_api.emulator.seen == []
    await client.list_namespaces()
    assert client.connected
    assert len(kube_api.emulator.seen) == 1
    client.close()
    assert not client.connected
    await client.list_namespaces()  # builds a fresh ApiClient after close()
    client.close()


async def test_no_global_configuration_and_no_key_files(
    kube_api_tls: tuple[KubeAPI, TlsMaterial], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, material = kube_api_tls
    api.add("nodes", make_node("n1"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the client library writes key files
    temp_files_before = dict(kubernetes.config.kube_config._temp_files)
    client = KubeClient(
        api.kubeconfig(ca_pem=material.ca_pem, client_cert_pem=material.client_cert_pem,
                       client_key_pem=material.client_key_pem),
        request_timeout=5,
    )  # fmt: skip
    assert [n.name for n in await client.list_nodes()] == ["n1"]
    assert list(tmp_path.iterdir()) == []
    assert kubernetes.config.kube_config._temp_files == temp_files_before
    assert kubernetes.client.Configuration._default is None
    client.close()


# -- introspection ------------------------------------------------------------------------------
async def test_server_version(kube_api: KubeAPI) -> None:
    version = await client_for(kube_api).server_version()
    assert version.known and version.git_version == "v1.33.5+k3s1"
    assert (version.major, version.minor) == ("1", "33")


async def test_server_version_404_is_a_clear_result(kube_api: KubeAPI) -> None:
    kube_api.emulator.fail_next(404)
    version = await client_for(kube_api).server_version()
    assert not version.known
    assert "404" in version.note


async def test_nodes_with_gpus_conditions_and_roles(kube_api: KubeAPI) -> None:
    kube_api.add("nodes", make_node("cp1", roles=["control-plane", "master"], cpu="4", memory="8Gi"))
    kube_api.add("nodes", make_node("gpu1", gpus=2, cpu="16", memory="64Gi"))
    kube_api.add("nodes", make_node("sick", ready=False, cpu="2500m", memory="4G"))
    nodes = {n.name: n for n in await client_for(kube_api).list_nodes()}
    assert set(nodes) == {"cp1", "gpu1", "sick"}
    assert nodes["cp1"].roles == ("control-plane", "master")
    assert nodes["gpu1"].gpu_capacity == 2 and nodes["gpu1"].gpu_allocatable == 2
    assert nodes["gpu1"].allocatable["nvidia.com/gpu"] == "2"
    assert nodes["cp1"].gpu_allocatable == 0
    assert nodes["gpu1"].cpu_allocatable_millicores == 16_000
    assert nodes["sick"].cpu_allocatable_millicores == 2_500
    assert nodes["gpu1"].memory_allocatable_bytes == 64 * 1024**3
    assert nodes["sick"].memory_allocatable_bytes == 4_000_000_000
    assert nodes["cp1"].ready is True and nodes["sick"].ready is False
    ready = next(c for c in nodes["sick"].conditions if c.type == "Ready")
    assert ready.reason == "KubeletNotReady" and ready.last_transition is not None
    assert ("InternalIP", "10.0.0.1") in nodes["gpu1"].addresses
    assert nodes["gpu1"].kubelet_version == "v1.33.5+k3s1"


async def test_namespaces_and_storage_classes(kube_api: KubeAPI) -> None:
    for name in ("default", "kube-system", "apps"):
        kube_api.add("namespaces", make_namespace(name))
    kube_api.add("storageclasses", make_storage_class("local-path", default=True))
    kube_api.add("storageclasses", make_storage_class("nfs"))
    client = client_for(kube_api)
    assert [n.name for n in await client.list_namespaces()] == ["apps", "default", "kube-system"]
    classes = {s.name: s for s in await client.list_storage_classes()}
    assert classes["local-path"].is_default and not classes["nfs"].is_default
    assert classes["local-path"].volume_binding_mode == "WaitForFirstConsumer"


async def test_pods_are_paged_500_at_a_time(kube_api: KubeAPI) -> None:
    for i in range(1200):
        kube_api.add("pods", make_pod("apps" if i % 2 else "web", f"pod-{i:04d}"))
    client = client_for(kube_api)
    pages = [page async for page in client.iter_pod_pages()]
    assert [len(p.items) for p in pages] == [500, 500, 200]
    assert [p.remaining for p in pages] == [700, 200, None]
    assert pages[-1].continue_token is None
    names = [(p.namespace, p.name) for page in pages for p in page.items]
    assert len(set(names)) == 1200 and names == sorted(names)
    lists = kube_api.emulator.requests_to("/api/v1/pods")
    assert [r.query.get("limit") for r in lists] == ["500", "500", "500"]
    assert "continue" not in lists[0].query
    assert lists[1].query["continue"] == pages[0].continue_token
    assert lists[2].query["continue"] == pages[1].continue_token


async def test_one_page_by_hand_with_namespace_and_selector(kube_api: KubeAPI) -> None:
    for i in range(30):
        kube_api.add("pods", make_pod("apps", f"api-{i:02d}", tier="api" if i < 12 else "worker"))
    kube_api.add("pods", make_pod("other", "api-x", tier="api"))
    client = client_for(kube_api)
    first = await client.list_pods_page("apps", 5, label_selector="tier=api")
    assert [p.name for p in first.items] == [f"api-{i:02d}" for i in range(5)]
    assert first.continue_token is not None and first.remaining == 7
    second = await client.list_pods_page("apps", 10, first.continue_token, label_selector="tier=api")
    assert [p.name for p in second.items] == [f"api-{i:02d}" for i in range(5, 12)]
    assert second.continue_token is None
    pod = first.items[0]
    assert (pod.status, pod.ready_containers, pod.total_containers, pod.restarts) == ("Running", 1, 1, 1)
    assert pod.owner == "ReplicaSet/api-00-rs"
    all_api = await client.list_pods(label_selector="tier=api")
    assert len(all_api) == 13


async def test_expired_continue_token_is_a_conflict(kube_api: KubeAPI) -> None:
    with pytest.raises(ConflictError, match="start the list again"):
        await client_for(kube_api).list_pods_page(None, 500, "bm90LWEtdG9rZW4=")


async def test_bad_page_size_is_a_validation_error(kube_api: KubeAPI) -> None:
    with pytest.raises(ValidationError):
        await client_for(kube_api).list_pods_page(None, 0)
    assert kube_api.emulator.seen == []


async def test_events_newest_first(kube_api: KubeAPI) -> None:
    kube_api.add(
        "events", make_event("apps", "a", reason="Scheduled", message="ok", last="2025-01-02T04:00:00Z")
    )
    kube_api.add(
        "events",
        make_event("apps", "b", reason="BackOff", message="Back-off restarting", type_="Warning",
                   last="2025-01-02T05:00:00Z", count=7),
    )  # fmt: skip
    kube_api.add(
        "events", make_event("web", "c", reason="Pulled", message="pulled", last="2025-01-02T03:00:00Z")
    )
    client = client_for(kube_api)
    events = await client.list_events()
    assert [e.reason for e in events] == ["BackOff", "Scheduled", "Pulled"]
    assert events[0].type == "Warning" and events[0].count == 7 and events[0].object_name == "web-1"
    assert [e.name for e in await client.list_events("apps", limit=1)] == ["b"]


# -- logs ---------------------------------------------------------------------------------------
async def test_pod_log_tail(kube_api: KubeAPI) -> None:
    kube_api.emulator.logs[("apps", "web-1")] = [f"line {i}" for i in range(100)]
    client = client_for(kube_api)
    assert await client.pod_logs("apps", "web-1", tail_lines=3) == ["line 97", "line 98", "line 99"]
    seen = kube_api.emulator.requests_to("/api/v1/namespaces/apps/pods/web-1/log")
    assert seen[-1].query["tailLines"] == "3"
    assert len(await client.pod_logs("apps", "web-1", tail_lines=None)) == 100


async def test_pod_log_of_a_missing_pod_is_not_found(kube_api: KubeAPI) -> None:
    with pytest.raises(NotFoundError, match="Pod apps/ghost"):
        await client_for(kube_api).pod_logs("apps", "ghost")


async def test_follow_streams_new_lines_and_aclose_ends_stream_and_thread(kube_api: KubeAPI) -> None:
    emu = kube_api.emulator
    emu.logs[("apps", "web-1")] = ["old 1", "old 2", "old 3"]
    stream = client_for(kube_api).follow_logs("apps", "web-1", tail_lines=2)
    got = [await asyncio.wait_for(anext(stream), GUARD), await asyncio.wait_for(anext(stream), GUARD)]
    assert got == ["old 2", "old 3"]
    await emu.append_log("apps", "web-1", "new 1", "new 2")
    got += [await asyncio.wait_for(anext(stream), GUARD) for _ in range(2)]
    assert got == ["old 2", "old 3", "new 1", "new 2"]
    assert emu.log_streams_opened == 1 and emu.log_streams_closed == 0
    assert len(reader_threads()) == 1
    await asyncio.wait_for(stream.aclose(), GUARD)
    assert reader_threads() == []
    await wait_for(lambda: emu.log_streams_closed == 1)
    assert emu.requests_to("/api/v1/namespaces/apps/pods/web-1/log")[-1].query["follow"] == "true"


async def test_follow_break_without_a_reference_stops(kube_api: KubeAPI) -> None:
    emu = kube_api.emulator
    emu.logs[("apps", "web-1")] = ["a", "b", "c"]
    client = client_for(kube_api)
    seen = []
    async for line in client.follow_logs("apps", "web-1"):
        seen.append(line)
        if line == "b":
            break
    assert seen == ["a", "b"]
    await wait_for(lambda: emu.log_streams_closed == 1 and not reader_threads())


async def test_follow_cancellation_stops(kube_api: KubeAPI) -> None:
    emu = kube_api.emulator
    emu.logs[("apps", "web-1")] = ["first"]
    received: list[str] = []

    async def consume() -> None:
        async for line in client_for(kube_api).follow_logs("apps", "web-1"):
            received.append(line)

    task = asyncio.create_task(consume())
    await wait_for(lambda: received == ["first"])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: emu.log_streams_closed == 1 and not reader_threads())


async def test_follow_ends_when_the_log_ends(kube_api: KubeAPI) -> None:
    emu = kube_api.emulator
    emu.logs[("jobs", "once")] = ["starting"]
    stream = client_for(kube_api).follow_logs("jobs", "once")
    assert await asyncio.wait_for(anext(stream), GUARD) == "starting"
    await emu.append_log("jobs", "once", "done")
    await emu.end_log("jobs", "once")
    rest = await asyncio.wait_for(_drain(stream), GUARD)
    assert rest == ["done"]
    await wait_for(lambda: not reader_threads())


async def _drain(stream: object) -> list[str]:
    return [line async for line in stream]  # type: ignore[attr-defined]


async def test_follow_of_a_missing_pod_is_not_found(kube_api: KubeAPI) -> None:
    with pytest.raises(NotFoundError):
        await anext(client_for(kube_api).follow_logs("apps", "ghost"))
    assert reader_threads() == []


# -- errors -------------------------------------------------------------------------------------
async def test_403_is_a_permanent_service_error_not_a_role_problem(kube_api: KubeAPI) -> None:
    kube_api.emulator.forbidden.add("nodes")
    with pytest.raises(PermanentServiceError) as info:
        await client_for(kube_api).list_nodes()
    assert not isinstance(info.value, PermissionDenied)
    assert "403 Forbidden" in str(info.value) and "cannot list resource" in str(info.value)
    assert "lab" in str(info.value)


async def test_401_rejected_credentials(kube_api: KubeAPI) -> None:
    client = KubeClient(kube_api.kubeconfig(token="not-the-token"), request_timeout=5)
    with pytest.raises(PermanentServiceError, match="rejected PodWarden's credentials"):
        await client.list_namespaces()


async def test_404_409_410_429_500_are_mapped(kube_api: KubeAPI) -> None:
    client = client_for(kube_api)
    with pytest.raises(NotFoundError, match="ConfigMap apps/nope"):
        await client.get("v1", "ConfigMap", "nope", "apps")
    kube_api.emulator.fail_next(409)
    with pytest.raises(ConflictError):
        await client.list_namespaces()
    kube_api.emulator.fail_next(429, retry_after=7)
    with pytest.raises(TemporaryServiceError) as busy:
        await client.list_namespaces()
    assert busy.value.retry_after == 7
    kube_api.emulator.fail_next(503)
    with pytest.raises(TemporaryServiceError, match="503"):
        await client.list_namespaces()
    kube_api.emulator.fail_next(422)
    with pytest.raises(PermanentServiceError, match="422"):
        await client.list_namespaces()
    await client.list_namespaces()  # and then it works again


async def test_unreachable_api_is_temporary() -> None:
    with closed_port() as port:
        client = KubeClient(fake_module.kubeconfig_text(f"http://127.0.0.1:{port}"), request_timeout=5)
        with pytest.raises(TemporaryServiceError, match="Connection refused"):
            await asyncio.wait_for(client.list_nodes(), GUARD)


async def test_silent_api_times_out_as_temporary() -> None:
    with silent_port() as port:
        client = KubeClient(fake_module.kubeconfig_text(f"http://127.0.0.1:{port}"), request_timeout=0.5)
        with pytest.raises(TemporaryServiceError, match=r"did not answer .* within 0.5 s"):
            await asyncio.wait_for(client.list_nodes(), GUARD)


# -- TLS ----------------------------------------------------------------------------------------
async def test_https_with_ca_and_client_certificate(kube_api_tls: tuple[KubeAPI, TlsMaterial]) -> None:
    api, material = kube_api_tls
    api.add("nodes", make_node("n1", gpus=1))
    client = KubeClient(
        api.kubeconfig(ca_pem=material.ca_pem, client_cert_pem=material.client_cert_pem,
                       client_key_pem=material.client_key_pem),
        request_timeout=5,
    )  # fmt: skip
    assert client.server.startswith("https://127.0.0.1:")
    assert [(n.name, n.gpu_allocatable) for n in await client.list_nodes()] == [("n1", 1)]
    client.close()


async def test_https_with_the_wrong_ca_is_permanent(kube_api_tls: tuple[KubeAPI, TlsMaterial]) -> None:
    api, material = kube_api_tls
    other = tls_material()
    client = KubeClient(
        api.kubeconfig(ca_pem=other.ca_pem, client_cert_pem=material.client_cert_pem,
                       client_key_pem=material.client_key_pem),
        request_timeout=5,
    )  # fmt: skip
    with pytest.raises(PermanentServiceError, match="failed the check against the kubeconfig's CA"):
        await client.list_nodes()


async def test_https_with_a_foreign_client_certificate_fails(
    kube_api_tls: tuple[KubeAPI, TlsMaterial],
) -> None:
    api, material = kube_api_tls
    other = tls_material()
    client = KubeClient(
        api.kubeconfig(ca_pem=material.ca_pem, client_cert_pem=other.client_cert_pem,
                       client_key_pem=other.client_key_pem),
        request_timeout=5,
    )  # fmt: skip
    # The test server drops the connection during the handshake; a real API server may
    # send a TLS alert (permanent) instead, so only the family is fixed here.
    with pytest.raises(ExternalServiceError):
        await asyncio.wait_for(client.list_nodes(), GUARD)


# -- generic objects (deployments use these) ----------------------------------------------------
async def test_server_side_apply_get_list_delete(kube_api: KubeAPI) -> None:
    client = client_for(kube_api)
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "apps",
            "labels": {"app.kubernetes.io/managed-by": "podwarden"},
        },
        "spec": {"replicas": 1},
    }
    created = await client.server_side_apply(manifest)
    assert created["metadata"]["name"] == "web"
    patch = kube_api.emulator.requests_to("/apis/apps/v1/namespaces/apps/deployments/web", "PATCH")[-1]
    assert patch.content_type == "application/apply-patch+yaml"
    assert patch.query == {"fieldManager": "podwarden", "force": "true"}
    updated = await client.server_side_apply({**manifest, "spec": {"replicas": 3}})
    assert updated["spec"]["replicas"] == 3
    assert (await client.get("apps/v1", "Deployment", "web", "apps"))["spec"]["replicas"] == 3
    await client.server_side_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}})
    found = await client.list_by_label("apps/v1", "Deployment", {"app.kubernetes.io/managed-by": "podwarden"})
    assert [o["metadata"]["name"] for o in found] == ["web"]
    assert await client.delete("apps/v1", "Deployment", "web", "apps") is True
    assert await client.delete("apps/v1", "Deployment", "web", "apps") is False
    with pytest.raises(NotFoundError):
        await client.delete("apps/v1", "Deployment", "web", "apps", missing_ok=False)


async def test_apply_defaults_to_the_context_namespace_and_dry_run(kube_api: KubeAPI) -> None:
    client = KubeClient(kube_api.kubeconfig(namespace="team-a"), request_timeout=5)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}}
    await client.server_side_apply(cm, dry_run=True)
    request = kube_api.emulator.seen[-1]
    assert request.path == "/api/v1/namespaces/team-a/configmaps/cfg"
    assert request.query["dryRun"] == "All"
    with pytest.raises(NotFoundError):  # a dry run stores nothing
        await client.get("v1", "ConfigMap", "cfg")
    stored = await client.server_side_apply(cm)
    assert stored["metadata"]["uid"] and stored["metadata"]["namespace"] == "team-a"
    await client.server_side_apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}})
    assert kube_api.emulator.seen[-1].path == "/api/v1/namespaces/team-b"
    assert "team-b" in [n.name for n in await client.list_namespaces()]


async def test_unknown_kinds_are_discovered(kube_api: KubeAPI) -> None:
    kube_api.emulator.resources["traefik.io/v1alpha1/middlewares"] = kmock.ResourceInfo(
        kind="Middleware", namespaced=True
    )
    client = client_for(kube_api)
    manifest = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": "strip", "namespace": "web"},
    }
    await client.server_side_apply(manifest)
    assert kube_api.emulator.seen[-1].path == "/apis/traefik.io/v1alpha1/namespaces/web/middlewares/strip"
    with pytest.raises(NotFoundError):
        await client.get("traefik.io/v1alpha1", "NoSuchKind", "x", "web")


async def test_manifest_without_name_is_invalid(kube_api: KubeAPI) -> None:
    with pytest.raises(ValidationError):
        await client_for(kube_api).server_side_apply(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
        )
