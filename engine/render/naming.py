"""Names and labels of rendered objects: DNS-safe, length-limited, deterministic.

Every object a deployment renders carries :func:`common_labels`; the pods and the
workload selector use :func:`selector_labels`. Names are derived from the
deployment name; a name that would be too long is cut and given a short hash of
the full name, so two long names never collide by truncation.
"""

from __future__ import annotations

import hashlib
import re

from podwarden.engine.schemas.deployments import DeploymentSpec
from podwarden.engine.schemas.stacks import ConfigSlot, PvcVolume

__all__ = [
    "DEPLOYMENT_ID_LABEL",
    "INSTANCE_LABEL",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "NAME_LABEL",
    "STACK_ID_LABEL",
    "claim_name",
    "common_labels",
    "config_map_name",
    "deployment_selector",
    "dns_label",
    "env_secret_name",
    "pull_secret_name",
    "selector_labels",
    "service_name",
    "service_names",
]

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "podwarden"
NAME_LABEL = "app.kubernetes.io/name"
#: The selector label: the deployment's name (unique in its namespace).
INSTANCE_LABEL = "app.kubernetes.io/instance"
DEPLOYMENT_ID_LABEL = "podwarden.io/deployment-id"
STACK_ID_LABEL = "podwarden.io/stack-id"

_NOT_LABEL = re.compile(r"[^a-z0-9-]+")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def dns_label(*parts: str, limit: int = 63) -> str:
    """Join ``parts`` with ``-`` into a DNS label of at most ``limit`` characters.

    Characters outside ``[a-z0-9-]`` become ``-``. Too long a result keeps its
    start and ends with ``-`` + 8 hex digits of the SHA-256 of the full text.
    """
    raw = "-".join(part for part in parts if part)
    label = re.sub(r"-{2,}", "-", _NOT_LABEL.sub("-", raw.lower())).strip("-") or "x"
    if len(label) <= limit:
        return label
    head = label[: limit - 9].rstrip("-")
    return f"{head}-{_digest(raw)}"


def service_name(name: str) -> str:
    """A DNS-1035 label (Services must start with a letter): ``1app`` → ``s-1app``."""
    label = dns_label(name)
    return label if label[0].isalpha() else dns_label("s", label)


def env_secret_name(spec: DeploymentSpec) -> str:
    """The deployment's one Opaque Secret (secret env values, S3 credentials)."""
    return dns_label(spec.name, "env")


def pull_secret_name(spec: DeploymentSpec) -> str:
    """The ``kubernetes.io/dockerconfigjson`` Secret the pods pull the image with."""
    return dns_label(spec.name, "registry")


def config_map_name(spec: DeploymentSpec, slot: ConfigSlot | str) -> str:
    """One ConfigMap per config slot: ``<deployment>-<slot>``."""
    return dns_label(spec.name, slot if isinstance(slot, str) else slot.name)


def claim_name(spec: DeploymentSpec, volume: PvcVolume) -> str:
    """The PVC name: the stack's ``claim_name`` (shared/imported claims) or ``<deployment>-<volume>``."""
    return volume.claim_name or dns_label(spec.name, volume.name)


def service_names(spec: DeploymentSpec) -> list[str]:
    """The deployment's Service name first, then its alias Services (sorted, no duplicates)."""
    main = service_name(spec.name)
    aliases = sorted({service_name(alias) for alias in spec.service_aliases} - {main})
    return [main, *aliases]


def common_labels(spec: DeploymentSpec) -> dict[str, str]:
    """Labels on every object the deployment owns."""
    labels = {
        MANAGED_BY_LABEL: MANAGED_BY,
        NAME_LABEL: spec.stack.name,
        INSTANCE_LABEL: spec.name,
        DEPLOYMENT_ID_LABEL: str(spec.deployment_id),
    }
    if spec.stack_id is not None:
        labels[STACK_ID_LABEL] = str(spec.stack_id)
    return labels


def selector_labels(spec: DeploymentSpec) -> dict[str, str]:
    """The workload's (immutable) pod selector, also used by its Services."""
    return {INSTANCE_LABEL: spec.name, DEPLOYMENT_ID_LABEL: str(spec.deployment_id)}


def deployment_selector(spec: DeploymentSpec) -> str:
    """A label selector string for everything the deployment owns (list/prune/undeploy)."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY},{DEPLOYMENT_ID_LABEL}={spec.deployment_id}"
