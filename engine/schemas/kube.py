"""What the Kubernetes adapter returns: small frozen records built from API JSON.

Pure: no I/O and no ``kubernetes`` import. :mod:`podwarden.engine.adapters.kube`
reads raw JSON from the API (cheaper than the client's generated models for
10,000 pods) and turns it into these records here. Times are timezone-aware UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = [
    "GPU_RESOURCE",
    "EventInfo",
    "NamespaceInfo",
    "NodeCondition",
    "NodeInfo",
    "PodInfo",
    "PodPage",
    "ServerVersion",
    "StorageClassInfo",
    "event_info",
    "namespace_info",
    "node_info",
    "parse_quantity",
    "pod_info",
    "storage_class_info",
]

GPU_RESOURCE: Final = "nvidia.com/gpu"
_DEFAULT_CLASS_ANNOTATIONS: Final = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX: Final = {
    None: Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(1024),
    "Mi": Decimal(1024**2),
    "Gi": Decimal(1024**3),
    "Ti": Decimal(1024**4),
    "Pi": Decimal(1024**5),
    "Ei": Decimal(1024**6),
}


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity (``250m``, ``16Gi``, ``1e3``, ``2``) as a Decimal; ValueError if malformed."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise ValueError(f"not a quantity: {value!r}")
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise ValueError(f"not a quantity: {value!r}")
    number, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation as exc:
        raise ValueError(f"not a quantity: {value!r}") from exc
    if suffix and suffix[0] in "eE":
        return base * Decimal(10) ** int(suffix[1:])
    return base * _SUFFIX[suffix]


def _quantity_int(values: Mapping[str, str], key: str, scale: int = 1) -> int | None:
    if key not in values:
        return None
    try:
        return int(parse_quantity(values[key]) * scale)
    except ValueError:
        return None


def timestamp(value: object) -> datetime | None:
    """RFC 3339 text → aware UTC datetime (None when absent or unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _map(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in _map(value).items()}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# -- version -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ServerVersion:
    """``/version`` of the API server. ``git_version`` is None when the server did
    not say; ``note`` then explains why."""

    git_version: str | None
    major: str | None = None
    minor: str | None = None
    platform: str | None = None
    note: str = ""

    @property
    def known(self) -> bool:
        return self.git_version is not None

    @classmethod
    def from_json(cls, data: object) -> ServerVersion:
        doc = _map(data)
        git = _text(doc.get("gitVersion"))
        return cls(
            git_version=git,
            major=_text(doc.get("major")),
            minor=_text(doc.get("minor")),
            platform=_text(doc.get("platform")),
            note="" if git else "The API server's /version answer has no gitVersion.",
        )


# -- nodes ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NodeCondition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str | None
    message: str | None
    last_transition: datetime | None


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One node. ``capacity``/``allocatable`` keep the API's quantities as text;
    the ``*_millicores``/``*_bytes``/``gpu_*`` fields are those numbers parsed."""

    name: str
    labels: dict[str, str]
    roles: tuple[str, ...]
    addresses: tuple[tuple[str, str], ...]  # (type, address): InternalIP, Hostname, …
    capacity: dict[str, str]
    allocatable: dict[str, str]
    conditions: tuple[NodeCondition, ...]
    ready: bool | None
    unschedulable: bool
    taints: tuple[str, ...]
    kubelet_version: str | None
    os_image: str | None
    architecture: str | None
    container_runtime: str | None
    created: datetime | None
    cpu_allocatable_millicores: int | None
    memory_allocatable_bytes: int | None
    gpu_capacity: int
    gpu_allocatable: int


def node_info(obj: Mapping[str, Any]) -> NodeInfo:
    meta, spec, status = _map(obj.get("metadata")), _map(obj.get("spec")), _map(obj.get("status"))
    labels = _str_map(meta.get("labels"))
    capacity, allocatable = _str_map(status.get("capacity")), _str_map(status.get("allocatable"))
    conditions = tuple(
        NodeCondition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "Unknown")),
            reason=_text(c.get("reason")),
            message=_text(c.get("message")),
            last_transition=timestamp(c.get("lastTransitionTime")),
        )
        for c in map(_map, _list(status.get("conditions")))
    )
    ready = next((c.status == "True" for c in conditions if c.type == "Ready"), None)
    roles = tuple(
        sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k)
    )
    taints = tuple(
        f"{t.get('key', '')}{'=' + str(t['value']) if t.get('value') else ''}:{t.get('effect', '')}"
        for t in map(_map, _list(spec.get("taints")))
    )
    info = _map(status.get("nodeInfo"))
    return NodeInfo(
        name=str(meta.get("name", "")),
        labels=labels,
        roles=roles,
        addresses=tuple(
            (str(a.get("type", "")), str(a.get("address", "")))
            for a in map(_map, _list(status.get("addresses")))
        ),
        capacity=capacity,
        allocatable=allocatable,
        conditions=conditions,
        ready=ready,
        unschedulable=bool(spec.get("unschedulable", False)),
        taints=taints,
        kubelet_version=_text(info.get("kubeletVersion")),
        os_image=_text(info.get("osImage")),
        architecture=_text(info.get("architecture")),
        container_runtime=_text(info.get("containerRuntimeVersion")),
        created=timestamp(meta.get("creationTimestamp")),
        cpu_allocatable_millicores=_quantity_int(allocatable, "cpu", 1000),
        memory_allocatable_bytes=_quantity_int(allocatable, "memory"),
        gpu_capacity=_quantity_int(capacity, GPU_RESOURCE) or 0,
        gpu_allocatable=_quantity_int(allocatable, GPU_RESOURCE) or 0,
    )


# -- namespaces ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    name: str
    phase: str | None
    labels: dict[str, str]
    created: datetime | None


def namespace_info(obj: Mapping[str, Any]) -> NamespaceInfo:
    meta = _map(obj.get("metadata"))
    return NamespaceInfo(
        name=str(meta.get("name", "")),
        phase=_text(_map(obj.get("status")).get("phase")),
        labels=_str_map(meta.get("labels")),
        created=timestamp(meta.get("creationTimestamp")),
    )


# -- pods ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PodInfo:
    """One pod as a list shows it. ``status`` is what ``kubectl get pods`` shows
    (Running, Pending, CrashLoopBackOff, Terminating…)."""

    namespace: str
    name: str
    phase: str | None
    status: str
    node: str | None
    pod_ip: str | None
    ready_containers: int
    total_containers: int
    restarts: int
    owner: str | None  # "ReplicaSet/web-7d9c…"
    labels: dict[str, str] = field(repr=False)
    created: datetime | None = None


@dataclass(frozen=True, slots=True)
class PodPage:
    """One page of a pod list; ``continue_token`` is None on the last page."""

    items: list[PodInfo]
    continue_token: str | None
    remaining: int | None = None  # remainingItemCount, when the server says


def pod_info(obj: Mapping[str, Any]) -> PodInfo:
    meta, spec, status = _map(obj.get("metadata")), _map(obj.get("spec")), _map(obj.get("status"))
    statuses = [_map(s) for s in _list(status.get("containerStatuses"))]
    phase = _text(status.get("phase"))
    shown = phase or "Unknown"
    if _text(status.get("reason")):
        shown = str(status["reason"])
    for s in statuses:
        state = _map(s.get("state"))
        waiting, terminated = _map(state.get("waiting")), _map(state.get("terminated"))
        reason = _text(waiting.get("reason")) or _text(terminated.get("reason"))
        if reason and reason != "Completed":
            shown = reason
            break
    if meta.get("deletionTimestamp"):
        shown = "Terminating"
    owners = [_map(o) for o in _list(meta.get("ownerReferences"))]
    owner = next((f"{o.get('kind')}/{o.get('name')}" for o in owners if o.get("controller")), None)
    if owner is None and owners:
        owner = f"{owners[0].get('kind')}/{owners[0].get('name')}"
    return PodInfo(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        phase=phase,
        status=shown,
        node=_text(spec.get("nodeName")),
        pod_ip=_text(status.get("podIP")),
        ready_containers=sum(1 for s in statuses if s.get("ready") is True),
        total_containers=len(_list(spec.get("containers"))) or len(statuses),
        restarts=sum(int(s.get("restartCount") or 0) for s in statuses),
        owner=owner,
        labels=_str_map(meta.get("labels")),
        created=timestamp(meta.get("creationTimestamp")),
    )


# -- events --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventInfo:
    namespace: str
    name: str
    type: str | None  # Normal | Warning
    reason: str | None
    message: str | None
    object_kind: str | None
    object_name: str | None
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    source: str | None


def event_info(obj: Mapping[str, Any]) -> EventInfo:
    meta, involved = _map(obj.get("metadata")), _map(obj.get("involvedObject"))
    series, source = _map(obj.get("series")), _map(obj.get("source"))
    last = (
        timestamp(obj.get("lastTimestamp"))
        or timestamp(series.get("lastObservedTime"))
        or timestamp(obj.get("eventTime"))
        or timestamp(meta.get("creationTimestamp"))
    )
    return EventInfo(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        type=_text(obj.get("type")),
        reason=_text(obj.get("reason")),
        message=_text(obj.get("message")),
        object_kind=_text(involved.get("kind")),
        object_name=_text(involved.get("name")),
        count=int(obj.get("count") or series.get("count") or 1),
        first_seen=timestamp(obj.get("firstTimestamp")) or timestamp(obj.get("eventTime")) or last,
        last_seen=last,
        source=_text(source.get("component")) or _text(obj.get("reportingComponent")),
    )


# -- storage classes -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StorageClassInfo:
    name: str
    provisioner: str | None
    reclaim_policy: str | None
    volume_binding_mode: str | None
    allow_volume_expansion: bool
    is_default: bool


def storage_class_info(obj: Mapping[str, Any]) -> StorageClassInfo:
    meta = _map(obj.get("metadata"))
    annotations = _str_map(meta.get("annotations"))
    return StorageClassInfo(
        name=str(meta.get("name", "")),
        provisioner=_text(obj.get("provisioner")),
        reclaim_policy=_text(obj.get("reclaimPolicy")) or "Delete",
        volume_binding_mode=_text(obj.get("volumeBindingMode")) or "Immediate",
        allow_volume_expansion=bool(obj.get("allowVolumeExpansion", False)),
        is_default=any(annotations.get(a) == "true" for a in _DEFAULT_CLASS_ANNOTATIONS),
    )
