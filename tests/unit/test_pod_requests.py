"""What pods request, summed per node (the Kubernetes adapter's pure arithmetic for preflight)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from podwarden.engine.adapters.kube import NodeRequests, pod_requests, sum_node_requests

GIB = 1024**3
MIB = 1024**2


def container(name: str = "c", *, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
              **extra: Any) -> dict[str, Any]:  # fmt: skip
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": name, "image": "x", "resources": resources, **extra}


def pod(
    *containers: dict[str, Any],
    node: str | None = "n1",
    phase: str = "Running",
    init: list[dict[str, Any]] | None = None,
    overhead: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if node is not None:
        spec["nodeName"] = node
    if init is not None:
        spec["initContainers"] = init
    if overhead is not None:
        spec["overhead"] = overhead
    return {"metadata": {"name": "p", "labels": labels or {}}, "spec": spec, "status": {"phase": phase}}


def test_containers_are_summed_with_kubernetes_quantities() -> None:
    got = pod_requests(
        pod(
            container(requests={"cpu": "500m", "memory": "1Gi"}),
            container(requests={"cpu": "1.5", "memory": "512Mi", "nvidia.com/gpu": "1"}),
        )
    )
    assert got == NodeRequests(Decimal(2), Decimal(GIB + 512 * MIB), Decimal(1), 1)


def test_a_limit_counts_when_the_request_is_missing() -> None:
    got = pod_requests(
        pod(container(limits={"cpu": "250m", "memory": "1G"}), container(requests={"cpu": "1"}))
    )
    assert got.cpu == Decimal("1.25") and got.memory == Decimal(10**9)


def test_init_containers_count_as_the_max_of_the_largest_init_and_the_sum() -> None:
    big_init = container("init", requests={"cpu": "3", "memory": "100Mi"})
    small_init = container("init2", requests={"cpu": "100m", "memory": "4Gi"})
    got = pod_requests(
        pod(container(requests={"cpu": "1", "memory": "1Gi"}), container(requests={"cpu": "1"}),
            init=[big_init, small_init])
    )  # fmt: skip
    assert got.cpu == 3  # max(3, 0.1, 1 + 1)
    assert got.memory == 4 * GIB  # max(100Mi, 4Gi, 1Gi)


def test_sidecar_init_containers_run_beside_the_app_and_the_later_inits() -> None:
    sidecar = container("proxy", requests={"cpu": "500m"}, restartPolicy="Always")
    later_init = container("migrate", requests={"cpu": "2"})
    got = pod_requests(pod(container(requests={"cpu": "1"}), init=[sidecar, later_init]))
    assert got.cpu == Decimal("2.5")  # max(0.5 + 2 while migrating, 1 + 0.5 afterwards)
    got = pod_requests(pod(container(requests={"cpu": "3"}), init=[sidecar, later_init]))
    assert got.cpu == Decimal("3.5")


def test_pod_overhead_is_added() -> None:
    got = pod_requests(pod(container(requests={"cpu": "1"}), overhead={"cpu": "250m", "memory": "120Mi"}))
    assert got.cpu == Decimal("1.25") and got.memory == 120 * MIB


def test_terminated_pods_and_bad_quantities_request_nothing() -> None:
    assert pod_requests(pod(container(requests={"cpu": "1"}), phase="Succeeded")) == NodeRequests()
    assert pod_requests(pod(container(requests={"cpu": "1"}), phase="Failed")) == NodeRequests()
    assert pod_requests(pod(container(requests={"cpu": "lots", "memory": "1Ki"}))) == NodeRequests(
        Decimal(0), Decimal(1024), Decimal(0), 1
    )
    assert pod_requests({"spec": "nonsense"}) == NodeRequests(pods=1)


def test_sum_per_node_skips_unscheduled_terminated_and_excluded_pods() -> None:
    one = {"cpu": "1", "memory": "1Gi"}
    pods = [
        pod(container(requests=one), node="a"),
        pod(container(requests={"cpu": "500m"}), node="a", phase="Pending"),
        pod(container(requests=one), node="b"),
        pod(container(requests=one), node=None, phase="Pending"),  # not scheduled yet
        pod(container(requests=one), node="b", phase="Succeeded"),
        pod(container(requests=one), node="b", labels={"podwarden.io/deployment-id": "me", "x": "y"}),
    ]
    got = sum_node_requests(pods, exclude_labels={"podwarden.io/deployment-id": "me"})
    assert got == {
        "a": NodeRequests(Decimal("1.5"), Decimal(GIB), Decimal(0), 2),
        "b": NodeRequests(Decimal(1), Decimal(GIB), Decimal(0), 1),
    }
    assert sum_node_requests(pods)["b"].pods == 2
