"""Preflight: what may go wrong with a deployment on a cluster, as warnings (never exceptions).

:func:`preflight` is pure: the deploy service gathers :class:`ClusterFacts` (the
cluster's network capability and its nodes' allocatable and already requested
resources) and passes them in. Each :class:`PreflightWarning` has a stable
``code`` to branch on, a ``message`` for people and the input ``field`` it is
about (dotted path into the :class:`DeploymentSpec`, ``""`` for the whole).

Codes:

``network.missing``
    the stack's ``required_network_types`` are not all in the cluster's capability.
``storage.unreachable``
    a storage connection's network types do not intersect the cluster's.
``capacity.cpu`` / ``capacity.memory`` / ``capacity.gpu`` / ``capacity.vram``
    one pod requests more than the largest free allocatable of any eligible node
    (free = allocatable − the requests of the non-terminated pods scheduled on it,
    which the Kubernetes adapter's ``node_requests`` sums; the message names the
    node with the most free and the shortage).
``capacity.total``
    the replicas together request more than all eligible nodes have free.
``placement.no_node``
    no ready, schedulable node without a NoSchedule/NoExecute taint matches the
    node selector / pinned host (rendered pods carry no tolerations).
``env.required`` / ``env.not_generated``
    a required variable has no value; a ``generate`` variable was not generated.
``env.unknown`` / ``config.unknown``
    values for variables or config slots the stack does not have (ignored).
``env.shadowed``
    an S3 volume's injected variable has the name of a stack variable.
``config.required`` / ``config.too_large``
    a required config file has no content; a file is over the 1 MiB ConfigMap limit.
``image.tag_missing``
    the stack has no tag and there is no default tag (Kubernetes would pull ``latest``).
``stack.warning``
    :meth:`Stack.warnings` (allowed but suspicious settings).

Requests: a container's request is its ``*_request``, else its ``*_limit``
(Kubernetes copies a limit into a missing request); GPUs are ``gpu_count``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from podwarden.engine.schemas.deployments import DeploymentSpec
from podwarden.engine.schemas.stacks import (
    NetworkType,
    NfsVolume,
    Quantity,
    S3Volume,
    parse_quantity,
)

__all__ = ["ClusterFacts", "NodeCapacity", "PreflightWarning", "preflight"]

#: Largest ConfigMap the API server accepts (data + metadata), in bytes.
CONFIGMAP_LIMIT = 1024 * 1024


def _text(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NodeCapacity(_Model):
    """One node as introspection sees it. Quantities as Kubernetes writes them."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    ready: bool = True
    schedulable: bool = True
    cpu_allocatable: Annotated[Quantity, BeforeValidator(_text)] = "0"
    memory_allocatable: Annotated[Quantity, BeforeValidator(_text)] = "0"
    gpu_allocatable: int = Field(default=0, ge=0)
    cpu_requested: Annotated[Quantity, BeforeValidator(_text)] = "0"
    memory_requested: Annotated[Quantity, BeforeValidator(_text)] = "0"
    gpu_requested: int = Field(default=0, ge=0)
    gpu_vram_mb: int | None = Field(default=None, ge=0)
    #: ``key[=value]:Effect``, as the Kubernetes adapter's ``NodeInfo.taints`` writes them.
    taints: list[str] = Field(default_factory=list)

    def accepts_pods(self) -> bool:
        """Ready, not cordoned, and no NoSchedule/NoExecute taint (rendered pods tolerate none)."""
        blocking = any(taint.endswith((":NoSchedule", ":NoExecute")) for taint in self.taints)
        return self.ready and self.schedulable and not blocking

    def allocatable(self, resource: Literal["cpu", "memory", "gpu"]) -> Decimal:
        """What the node offers to pods (cores, bytes, devices)."""
        if resource == "gpu":
            return Decimal(self.gpu_allocatable)
        return parse_quantity(self.cpu_allocatable if resource == "cpu" else self.memory_allocatable)

    def requested(self, resource: Literal["cpu", "memory", "gpu"]) -> Decimal:
        """What the non-terminated pods scheduled on the node already request."""
        if resource == "gpu":
            return Decimal(self.gpu_requested)
        return parse_quantity(self.cpu_requested if resource == "cpu" else self.memory_requested)

    def free(self, resource: Literal["cpu", "memory", "gpu"]) -> Decimal:
        """Allocatable minus what pods already request (may be negative when overcommitted)."""
        return self.allocatable(resource) - self.requested(resource)


class ClusterFacts(_Model):
    """What preflight needs to know about the target cluster."""

    network_types: list[NetworkType] = Field(default_factory=list)
    nodes: list[NodeCapacity] = Field(default_factory=list)


@dataclass(frozen=True)
class PreflightWarning:
    code: str
    message: str
    field: str = ""


Resource = Literal["cpu", "memory", "gpu"]


def _format(resource: Resource, amount: Decimal) -> str:
    if resource == "memory":
        mib = (amount / (1024 * 1024)).quantize(Decimal("0.1"))
        return f"{mib.normalize():f} MiB of memory"
    if resource == "cpu":
        return f"{amount.normalize():f} CPU"
    return f"{amount.normalize():f} GPU"


def _requests(spec: DeploymentSpec) -> dict[Resource, Decimal]:
    resources = spec.stack.resources
    out: dict[Resource, Decimal] = {}
    pairs: tuple[tuple[Resource, str | None, str | None], ...] = (
        ("cpu", resources.cpu_request, resources.cpu_limit),
        ("memory", resources.memory_request, resources.memory_limit),
    )
    for resource, request, limit in pairs:
        value = request if request is not None else limit
        if value is not None and parse_quantity(value) > 0:
            out[resource] = parse_quantity(value)
    if resources.gpu_count:
        out["gpu"] = Decimal(resources.gpu_count)
    return out


def _eligible(spec: DeploymentSpec, facts: ClusterFacts) -> tuple[list[NodeCapacity], list[PreflightWarning]]:
    selector = {**spec.stack.node_selector, **spec.placement.node_selector}
    if spec.placement.hostname is not None:
        selector["kubernetes.io/hostname"] = spec.placement.hostname
    usable = [node for node in facts.nodes if node.accepts_pods()]
    matching = [node for node in usable if all(node.labels.get(k) == v for k, v in selector.items())]
    if matching or not facts.nodes:
        return matching, []
    shown = ", ".join(f"{key}={value}" for key, value in selector.items())
    why = f"matches {shown}" if selector else "exists"
    where = "placement" if spec.placement.hostname or spec.placement.node_selector else "stack.node_selector"
    message = f"no ready, schedulable, untainted node {why}; the pods would stay Pending"
    return usable, [PreflightWarning("placement.no_node", message, where)]


def _capacity(spec: DeploymentSpec, facts: ClusterFacts) -> list[PreflightWarning]:
    if not facts.nodes:
        return []
    nodes, warnings = _eligible(spec, facts)
    if not nodes:
        return warnings
    fields: dict[Resource, str] = {"cpu": "cpu_request", "memory": "memory_request", "gpu": "gpu_count"}
    requests = _requests(spec)
    for resource, amount in requests.items():
        best = max(nodes, key=lambda node: node.free(resource))
        largest = best.free(resource)
        if amount > largest:
            warnings.append(
                PreflightWarning(
                    f"capacity.{resource}",
                    f"one pod requests {_format(resource, amount)} but the most any eligible node has "
                    f"free is {_format(resource, max(largest, Decimal(0)))} (node {best.name}: "
                    f"{_format(resource, best.allocatable(resource))} allocatable, "
                    f"{_format(resource, best.requested(resource))} requested by its pods; "
                    f"{_format(resource, amount - max(largest, Decimal(0)))} short)",
                    f"stack.resources.{fields[resource]}",
                )
            )
    vram = spec.stack.resources.vram_request_mb
    if vram and spec.stack.resources.gpu_count:
        known = [node.gpu_vram_mb for node in nodes if node.gpu_vram_mb is not None and node.gpu_allocatable]
        if known and vram > max(known):
            warnings.append(
                PreflightWarning(
                    "capacity.vram",
                    f"the pod needs {vram} MB of GPU memory but the largest GPU has {max(known)} MB",
                    "stack.resources.vram_request_mb",
                )
            )
    pods = spec.replicas if spec.stack.kind != "daemonset" else 1
    if pods > 1 and not any(w.code.startswith("capacity.") for w in warnings):
        for resource, amount in requests.items():
            total = sum((max(node.free(resource), Decimal(0)) for node in nodes), Decimal(0))
            if amount * pods > total:
                warnings.append(
                    PreflightWarning(
                        "capacity.total",
                        f"{pods} replicas request {_format(resource, amount * pods)} in all, "
                        f"but the eligible nodes have {_format(resource, total)} free together",
                        "replicas",
                    )
                )
    return warnings


def _networks(spec: DeploymentSpec, facts: ClusterFacts) -> list[PreflightWarning]:
    warnings: list[PreflightWarning] = []
    capability = set(facts.network_types)
    missing = [kind for kind in spec.stack.required_network_types if kind not in capability]
    if missing:
        have = ", ".join(facts.network_types) or "none known"
        warnings.append(
            PreflightWarning(
                "network.missing",
                f"the stack needs network types {', '.join(missing)} that the cluster's nodes do not all "
                f"have (cluster: {have})",
                "stack.required_network_types",
            )
        )
    seen: set[str] = set()
    for volume in spec.stack.volumes:
        if not isinstance(volume, NfsVolume | S3Volume) or volume.storage_connection in seen:
            continue
        seen.add(volume.storage_connection)
        connection = spec.storage_connection(volume.storage_connection)
        if connection is None or not connection.network_types:
            continue
        if not capability.intersection(connection.network_types):
            warnings.append(
                PreflightWarning(
                    "storage.unreachable",
                    f"storage connection {connection.name!r} is reachable over "
                    f"{', '.join(connection.network_types)}, which the cluster does not have "
                    f"(cluster: {', '.join(facts.network_types) or 'none known'})",
                    "storage_connections",
                )
            )
    return warnings


def _env(spec: DeploymentSpec) -> list[PreflightWarning]:
    warnings: list[PreflightWarning] = []
    names = {item.name for item in spec.stack.env_schema}
    for item in spec.stack.env_schema:
        value, _ = spec.env_value(item)
        if value is not None:
            continue
        if item.generate:
            warnings.append(
                PreflightWarning(
                    "env.not_generated",
                    f"{item.name} is generated at deploy time but has no value yet",
                    f"secret_values.{item.name}",
                )
            )
        elif item.required:
            warnings.append(
                PreflightWarning(
                    "env.required", f"{item.name} is required but has no value", f"env_values.{item.name}"
                )
            )
    for where, given in (("env_values", spec.env_values), ("secret_values", spec.secret_values)):
        for name in given:
            if name not in names:
                warnings.append(
                    PreflightWarning(
                        "env.unknown",
                        f"{name} is not a variable of the stack's env_schema; the value is ignored",
                        f"{where}.{name}",
                    )
                )
    fixed = names | {item.name for item in spec.stack.env}
    for index, volume in enumerate(spec.stack.volumes):
        if isinstance(volume, S3Volume):
            for suffix in ("ENDPOINT", "BUCKET", "REGION", "PREFIX", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"):
                if f"{volume.env_prefix}{suffix}" in fixed:
                    warnings.append(
                        PreflightWarning(
                            "env.shadowed",
                            f"{volume.env_prefix}{suffix} is set by S3 volume {volume.name!r} and by the "
                            "stack's environment; the later definition wins",
                            f"stack.volumes.{index}.env_prefix",
                        )
                    )
    return warnings


def _config(spec: DeploymentSpec) -> list[PreflightWarning]:
    warnings: list[PreflightWarning] = []
    slots = {slot.name for slot in spec.stack.config_slots}
    for slot in spec.stack.config_slots:
        content = spec.config_content(slot.name)
        if slot.required and not content:
            warnings.append(
                PreflightWarning(
                    "config.required",
                    f"config file {slot.name!r} ({slot.mount_path}) is required but has no content",
                    f"config_values.{slot.name}",
                )
            )
        if content is not None and len(content.encode()) > CONFIGMAP_LIMIT:
            warnings.append(
                PreflightWarning(
                    "config.too_large",
                    f"config file {slot.name!r} is larger than 1 MiB; Kubernetes refuses such a ConfigMap",
                    f"config_values.{slot.name}",
                )
            )
    for name in spec.config_values:
        if name not in slots:
            warnings.append(
                PreflightWarning(
                    "config.unknown",
                    f"{name!r} is not a config slot of the stack; the content is ignored",
                    f"config_values.{name}",
                )
            )
    return warnings


def preflight(spec: DeploymentSpec, cluster_facts: ClusterFacts) -> list[PreflightWarning]:
    """All warnings for deploying ``spec`` onto the cluster described by ``cluster_facts``."""
    warnings: list[PreflightWarning] = []
    if spec.image_tag() is None:
        warnings.append(
            PreflightWarning(
                "image.tag_missing",
                f"image {spec.stack.image!r} has no tag and there is no default tag; "
                "Kubernetes would pull 'latest'",
                "stack.image_tag",
            )
        )
    warnings += _networks(spec, cluster_facts)
    warnings += _capacity(spec, cluster_facts)
    warnings += _env(spec)
    warnings += _config(spec)
    warnings += [PreflightWarning("stack.warning", text, "stack") for text in spec.stack.warnings()]
    return warnings
