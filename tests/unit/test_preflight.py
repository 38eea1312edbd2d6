"""Preflight: every warning code from the inputs that cause it, and silence when all is well."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
import pytest

from podwarden.engine.errors import ValidationError
from podwarden.engine.render import ClusterFacts, NodeCapacity, PreflightWarning, preflight
from podwarden.engine.schemas.deployments import DeploymentSpec, validate_deployment_spec
from podwarden.engine.schemas.stacks import validate_stack

GIB = 1024**3


def stack(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "api",
        "image": "acme/api",
        "image_tag": "3.1",
        "ports": [{"name": "http", "container_port": 8000}],
        "resources": {"cpu_request": "500m", "memory_request": "1Gi"},
        "env_schema": [
            {"name": "DB_PASSWORD", "required": True, "secret": True},
            {"name": "LOG_LEVEL", "default_value": "info"},
        ],
        "config_slots": [
            {"name": "app", "key": "app.toml", "mount_path": "/etc/api/app.toml", "required": True}
        ],
        "volumes": [{"type": "nfs", "name": "media", "mount_path": "/media", "storage_connection": "nas"}],
        "required_network_types": ["lan"],
    }
    data.update(changes)
    return data


def spec(stack_changes: dict[str, Any] | None = None, **changes: Any) -> DeploymentSpec:
    data: dict[str, Any] = {
        "deployment_id": uuid.UUID(int=1),
        "name": "api",
        "namespace": "apps",
        "stack": validate_stack(stack(**(stack_changes or {}))),
        "secret_values": {"DB_PASSWORD": "pw"},
        "config_values": {"app": "[server]\nport = 8000\n"},
        "storage_connections": [
            {"name": "nas", "kind": "nfs", "server": "nas.lan", "path": "/srv", "network_types": ["lan"]}
        ],
    }
    data.update(changes)
    return DeploymentSpec.model_validate(data)


def node(name: str = "n1", **changes: Any) -> NodeCapacity:
    data: dict[str, Any] = {
        "name": name,
        "labels": {"kubernetes.io/hostname": name},
        "cpu_allocatable": "4",
        "memory_allocatable": "8Gi",
        "cpu_requested": "1500m",
        "memory_requested": "2Gi",
    }
    data.update(changes)
    return NodeCapacity.model_validate(data)


def facts(*nodes: NodeCapacity, networks: list[str] | None = None) -> ClusterFacts:
    return ClusterFacts.model_validate(
        {"network_types": ["lan", "mesh"] if networks is None else networks, "nodes": list(nodes) or [node()]}
    )


def codes(warnings: list[PreflightWarning]) -> list[str]:
    return [warning.code for warning in warnings]


def only(warnings: list[PreflightWarning], code: str) -> PreflightWarning:
    found = [warning for warning in warnings if warning.code == code]
    assert len(found) == 1, (code, warnings)
    return found[0]


def test_a_good_deployment_has_no_warnings() -> None:
    assert preflight(spec(), facts()) == []


def test_required_network_types_missing_from_the_cluster() -> None:
    warnings = preflight(spec(), facts(networks=["public", "mesh"]))
    warning = only(warnings, "network.missing")
    assert warning.field == "stack.required_network_types"
    assert "lan" in warning.message and "public, mesh" in warning.message
    assert "network.missing" not in codes(preflight(spec(), facts(networks=["lan"])))


def test_storage_connection_not_reachable_from_the_cluster() -> None:
    warnings = preflight(spec({"required_network_types": []}), facts(networks=["mesh"]))
    warning = only(warnings, "storage.unreachable")
    assert "'nas'" in warning.message
    assert warning.field == "storage_connections"
    unknown = spec(
        {"required_network_types": []},
        storage_connections=[{"name": "nas", "kind": "nfs", "server": "nas.lan", "path": "/srv"}],
    )
    assert preflight(unknown, facts(networks=["mesh"])) == []  # connection without known network types


@pytest.mark.parametrize(
    ("resources", "code", "field"),
    [
        ({"cpu_request": "3"}, "capacity.cpu", "stack.resources.cpu_request"),
        (
            {"memory_limit": "7Gi"},
            "capacity.memory",
            "stack.resources.memory_request",
        ),  # limit counts as request
        ({"gpu_count": 1}, "capacity.gpu", "stack.resources.gpu_count"),
    ],
)
def test_requests_larger_than_the_largest_free_node(resources: dict[str, Any], code: str, field: str) -> None:
    small = node("small")  # 2.5 CPU, 6Gi free, no GPU
    smaller = node("smaller", cpu_allocatable="2", memory_allocatable="4Gi")
    warnings = preflight(spec({"resources": resources}), facts(small, smaller))
    warning = only(warnings, code)
    assert warning.field == field


def test_capacity_messages_name_the_amounts() -> None:
    warnings = preflight(spec({"resources": {"cpu_request": "3", "memory_request": "7Gi"}}), facts(node()))
    cpu = only(warnings, "capacity.cpu").message
    assert "the most any eligible node has free is 2.5 CPU" in cpu
    assert "(node n1: 4 CPU allocatable, 1.5 CPU requested by its pods; 0.5 CPU short)" in cpu
    assert "7168 MiB of memory" in only(warnings, "capacity.memory").message


def test_capacity_message_names_the_node_with_the_most_free() -> None:
    busy = node("busy", cpu_allocatable="8", cpu_requested="7500m")  # 0.5 free of the largest node
    idle = node("idle", cpu_allocatable="2", cpu_requested="0")  # 2 free
    warning = only(preflight(spec({"resources": {"cpu_request": "3"}}), facts(busy, idle)), "capacity.cpu")
    assert "free is 2 CPU (node idle: 2 CPU allocatable, 0 CPU requested by its pods; 1 CPU short)" in (
        warning.message
    )


def test_free_is_allocatable_minus_requested_quantities() -> None:
    assert node(cpu_allocatable="4", cpu_requested="500m").free("cpu") == 3.5
    free = node(memory_allocatable="8Gi", memory_requested="1536Mi").free("memory")
    assert free == 8 * GIB - 1536 * 1024**2
    assert node(gpu_allocatable=2, gpu_requested=2).free("gpu") == 0
    assert node(cpu_allocatable="1", cpu_requested="1500m").free("cpu") == -0.5  # overcommitted


def test_a_request_that_fits_one_node_but_not_the_other_is_fine() -> None:
    big = node("big", cpu_allocatable="16", memory_allocatable="64Gi", gpu_allocatable=2, gpu_requested=1)
    resources = {"cpu_request": "8", "memory_request": "32Gi", "gpu_count": 1}
    assert preflight(spec({"resources": resources}), facts(node(), big)) == []


def test_gpu_and_vram() -> None:
    gpu = node("gpu", gpu_allocatable=1, gpu_vram_mb=12288)
    resources = {"gpu_count": 1, "vram_request_mb": 24000}
    warnings = preflight(spec({"resources": resources}), facts(gpu))
    assert codes(warnings) == ["capacity.vram"]
    busy = node("gpu", gpu_allocatable=1, gpu_requested=1)
    assert "capacity.gpu" in codes(preflight(spec({"resources": {"gpu_count": 1}}), facts(busy)))


def test_not_ready_or_cordoned_nodes_do_not_count() -> None:
    big_but_down = node("down", cpu_allocatable="64", ready=False)
    big_but_cordoned = node("cordoned", cpu_allocatable="64", schedulable=False)
    warnings = preflight(
        spec({"resources": {"cpu_request": "8"}}), facts(node(), big_but_down, big_but_cordoned)
    )
    assert codes(warnings) == ["capacity.cpu"]


def test_replicas_that_do_not_fit_together() -> None:
    warnings = preflight(spec(replicas=4), facts(node("a"), node("b")))  # 4 × (500m, 1Gi) fits
    assert warnings == []
    warnings = preflight(spec(replicas=12), facts(node("a"), node("b")))  # 12 × 500m > 2 × 2.5 CPU free
    warning = only(warnings, "capacity.total")
    assert warning.field == "replicas"
    daemonset = spec({"kind": "daemonset"}, replicas=12)
    assert preflight(daemonset, facts(node("a"), node("b"))) == []


def test_placement_without_a_matching_node() -> None:
    pinned = spec(placement={"hostname": "elsewhere"})
    warnings = preflight(pinned, facts(node("n1")))
    warning = only(warnings, "placement.no_node")
    assert "kubernetes.io/hostname=elsewhere" in warning.message
    assert warning.field == "placement"
    assert preflight(spec(placement={"hostname": "n1"}), facts(node("n1"), node("n2"))) == []
    by_label = spec({"node_selector": {"gpu": "yes"}})
    assert only(preflight(by_label, facts(node())), "placement.no_node").field == "stack.node_selector"
    # The pinned node is the one whose capacity counts.
    tiny = node("tiny", cpu_allocatable="1", cpu_requested="0")
    warnings = preflight(spec(placement={"hostname": "tiny"}), facts(node("n1"), tiny))
    assert codes(warnings) == []
    warnings = preflight(
        spec({"resources": {"cpu_request": "2"}}, placement={"hostname": "tiny"}), facts(node("n1"), tiny)
    )
    assert codes(warnings) == ["capacity.cpu"]


def test_no_nodes_known_means_no_capacity_warnings() -> None:
    empty = ClusterFacts(network_types=["lan"], nodes=[])
    assert preflight(spec({"resources": {"cpu_request": "64"}}), empty) == []


def test_required_env_without_a_value() -> None:
    warnings = preflight(spec(secret_values={}), facts())
    warning = only(warnings, "env.required")
    assert warning.field == "env_values.DB_PASSWORD"
    # A value given as a plain env value also counts, as does a default.
    assert preflight(spec(secret_values={}, env_values={"DB_PASSWORD": "pw"}), facts()) == []


def test_generated_env_not_generated_yet() -> None:
    schema = [{"name": "SESSION_KEY", "generate": True, "secret": True}]
    warnings = preflight(spec({"env_schema": schema}, secret_values={}), facts())
    assert only(warnings, "env.not_generated").field == "secret_values.SESSION_KEY"
    assert preflight(spec({"env_schema": schema}, secret_values={"SESSION_KEY": "x" * 32}), facts()) == []


def test_unknown_values_are_reported() -> None:
    warnings = preflight(spec(env_values={"NOPE": "1"}, config_values={"app": "x", "other": "y"}), facts())
    assert {(w.code, w.field) for w in warnings} == {
        ("env.unknown", "env_values.NOPE"),
        ("config.unknown", "config_values.other"),
    }


def test_s3_variables_shadowed_by_stack_env() -> None:
    volumes = [{"type": "s3", "name": "bucket", "storage_connection": "minio", "env_prefix": "S3_"}]
    connections = [{"name": "minio", "kind": "s3", "bucket": "b", "endpoint": "http://minio:9000"}]
    shadowing = spec(
        {"volumes": volumes, "env": [{"name": "S3_BUCKET", "value": "other"}]},
        storage_connections=connections,
    )
    warning = only(preflight(shadowing, facts()), "env.shadowed")
    assert warning.field == "stack.volumes.0.env_prefix"


def test_required_config_without_content_and_too_large_config() -> None:
    warnings = preflight(spec(config_values={}), facts())
    assert only(warnings, "config.required").field == "config_values.app"
    huge = spec(config_values={"app": "x" * (1024 * 1024 + 1)})
    assert only(preflight(huge, facts()), "config.too_large").field == "config_values.app"
    defaulted = spec(
        {
            "config_slots": [
                {"name": "app", "key": "a", "mount_path": "/a", "required": True, "default_content": "x"}
            ]
        },
        config_values={},
    )
    assert preflight(defaulted, facts()) == []


def test_missing_image_tag() -> None:
    untagged = spec({"image_tag": None})
    warning = only(preflight(untagged, facts()), "image.tag_missing")
    assert warning.field == "stack.image_tag"
    assert preflight(spec({"image_tag": None}, default_image_tag="2024.1"), facts()) == []


def test_stack_warnings_are_passed_on() -> None:
    noisy = spec({"host_network": True})
    warning = only(preflight(noisy, facts()), "stack.warning")
    assert "ClusterFirstWithHostNet" in warning.message


def test_cluster_facts_validate_quantities() -> None:
    assert node(cpu_allocatable=4).free("cpu") == 2.5  # numbers are read as quantities too
    with pytest.raises(pydantic.ValidationError, match="not a Kubernetes quantity"):
        NodeCapacity.model_validate({"name": "x", "cpu_allocatable": "lots"})
    data = spec().model_dump()
    data["secret_values"] = {}
    with pytest.raises(ValidationError, match="needs storage connection 'nas'"):
        validate_deployment_spec({**data, "storage_connections": []})
