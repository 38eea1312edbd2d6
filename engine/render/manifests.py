"""Deployment inputs → Kubernetes manifests (pure: no I/O, no clock, no randomness).

:func:`render_deployment` returns plain dicts, in a fixed order that is also a
good apply order::

    Namespace, Secret (env), Secret (registry), ConfigMaps (slot order),
    PersistentVolumeClaims (volume order), Services (own, then aliases), workload

Every object carries :func:`~podwarden.engine.render.naming.common_labels`
(``app.kubernetes.io/managed-by: podwarden``, ``app.kubernetes.io/name`` = the
stack, ``app.kubernetes.io/instance`` = the deployment — the selector label —,
``podwarden.io/deployment-id``, ``podwarden.io/stack-id``), except the Namespace:
several deployments share a namespace, and undeploy deletes what carries the
deployment's id, so the Namespace gets only the managed-by label.

Decisions:

* **GPUs**: ``gpu_count`` → ``limits: {nvidia.com/gpu: N}`` (the device plugin's
  extended resource; requests default to limits) and ``runtimeClassName: nvidia``,
  the RuntimeClass K3s creates when it finds the NVIDIA container runtime on a node
  (provisioning installs it on GPU hosts). ``vram_request_mb`` has no Kubernetes
  resource; it is written as the pod annotation :data:`VRAM_ANNOTATION` and
  checked by preflight.
* **Rollout strategy**: a Deployment uses ``Recreate`` when a rolling update could
  never finish or would run two pods on the same data: it requests GPUs (the new pod
  waits for the GPU the old one holds), uses ``hostNetwork`` (same host ports), or
  mounts a ReadWriteOnce(Pod) claim. Else the Kubernetes default (RollingUpdate).
* **Jobs**: ``restartPolicy: OnFailure``, ``completions`` = ``parallelism`` =
  ``replicas``; a Job's pod template is immutable, so the deploy service must
  replace a changed Job rather than patch it.
* **Services**: one ClusterIP Service named after the deployment when the stack has
  ports (``port`` = container port, ``targetPort`` = the port's name), plus one per
  ``service_aliases`` entry with the same selector and ports (compose service names
  keep resolving: ``db.<ns>.svc.cluster.local``). Compose ``published`` host ports
  are not exposed (ingress rules do that). Names starting with a digit get ``s-``.
* ``enableServiceLinks: false``: Kubernetes would otherwise inject ``<SERVICE>_PORT=
  tcp://…`` variables that clash with compose-style ``DB_PORT=5432`` settings.
* **Secrets** use ``data`` (base64), not ``stringData``, so that a plan diffs
  cleanly against what the API returns. :func:`redact` masks them for plans,
  revisions and logs.
* A pod-template annotation :data:`CONFIG_HASH_ANNOTATION` (SHA-256 of the config
  files) makes a changed config file roll the pods when the workload is re-applied
  (files mounted with ``subPath`` never see ConfigMap updates, so pods must restart).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import yaml

from podwarden.engine.render.env import render_env, with_namespace
from podwarden.engine.render.naming import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    common_labels,
    env_secret_name,
    pull_secret_name,
    selector_labels,
    service_names,
)
from podwarden.engine.render.volumes import PodStorage, render_storage
from podwarden.engine.schemas.deployments import DeploymentSpec
from podwarden.engine.schemas.stacks import PvcVolume

__all__ = [
    "CONFIG_HASH_ANNOTATION",
    "GPU_RESOURCE",
    "GPU_RUNTIME_CLASS",
    "KUBERNETES_VERSION",
    "REDACTED",
    "VRAM_ANNOTATION",
    "Manifest",
    "redact",
    "render_deployment",
    "to_yaml",
]

#: The Kubernetes minor the manifests are written for and validated against:
#: the newest minor K3s ships (v1.37.0+k3s1, September 2026; the stable channel
#: was at v1.36) that kubernetes-validate 1.37 has schemas for.
KUBERNETES_VERSION = "1.37"

GPU_RESOURCE = "nvidia.com/gpu"
GPU_RUNTIME_CLASS = "nvidia"
VRAM_ANNOTATION = "podwarden.io/vram-request-mb"
CONFIG_HASH_ANNOTATION = "podwarden.io/config-hash"
REDACTED = "********"

Manifest = dict[str, Any]

_WORKLOAD = {
    "deployment": ("apps/v1", "Deployment"),
    "daemonset": ("apps/v1", "DaemonSet"),
    "job": ("batch/v1", "Job"),
}


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def _metadata(spec: DeploymentSpec, name: str, extra: dict[str, str] | None = None) -> Manifest:
    return {"name": name, "namespace": spec.namespace, "labels": {**common_labels(spec), **(extra or {})}}


def _namespace(spec: DeploymentSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": spec.namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
    }


def _opaque_secret(spec: DeploymentSpec, data: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(spec, env_secret_name(spec)),
        "type": "Opaque",
        "data": {key: _b64(value) for key, value in data.items()},
    }


def _pull_secret(spec: DeploymentSpec) -> Manifest | None:
    credentials = spec.registry_credentials
    if credentials is None:
        return None
    server = credentials.server or spec.effective_registry() or "https://index.docker.io/v1/"
    password = credentials.password.get_secret_value()
    entry = {
        "username": credentials.username,
        "password": password,
        "auth": _b64(f"{credentials.username}:{password}"),
    }
    config = json.dumps({"auths": {server: entry}}, sort_keys=True, separators=(",", ":"))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(spec, pull_secret_name(spec)),
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": _b64(config)},
    }


def _services(spec: DeploymentSpec) -> list[Manifest]:
    ports = [
        {
            "name": port.name,
            "protocol": port.protocol,
            "port": port.container_port,
            "targetPort": port.name,
        }
        for port in spec.stack.ports
    ]
    if not ports:
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(spec, name),
            "spec": {"type": "ClusterIP", "selector": selector_labels(spec), "ports": copy.deepcopy(ports)},
        }
        for name in service_names(spec)
    ]


def _resources(spec: DeploymentSpec) -> Manifest:
    resources = spec.stack.resources
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources.cpu_request is not None:
        requests["cpu"] = resources.cpu_request
    if resources.memory_request is not None:
        requests["memory"] = resources.memory_request
    if resources.cpu_limit is not None:
        limits["cpu"] = resources.cpu_limit
    if resources.memory_limit is not None:
        limits["memory"] = resources.memory_limit
    if resources.gpu_count:
        limits[GPU_RESOURCE] = str(resources.gpu_count)
    out: Manifest = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _container(spec: DeploymentSpec, storage: PodStorage, env: list[Manifest]) -> Manifest:
    stack = spec.stack
    container: Manifest = {"name": stack.name, "image": spec.image_reference()}
    if stack.command:
        container["command"] = [with_namespace(spec, word) for word in stack.command]
    if stack.args:
        container["args"] = [with_namespace(spec, word) for word in stack.args]
    if stack.ports:
        container["ports"] = [
            {"name": port.name, "containerPort": port.container_port, "protocol": port.protocol}
            for port in stack.ports
        ]
    if env:
        container["env"] = env
    resources = _resources(spec)
    if resources:
        container["resources"] = resources
    if storage.mounts:
        container["volumeMounts"] = storage.mounts
    return container


def _node_selector(spec: DeploymentSpec) -> dict[str, str]:
    """Stack labels, overridden by the placement's, plus the pinned host; sorted by key
    (mappings loaded from JSONB come back in another order than they were written)."""
    selector = {**spec.stack.node_selector, **spec.placement.node_selector}
    if spec.placement.hostname is not None:
        selector["kubernetes.io/hostname"] = spec.placement.hostname
    return dict(sorted(selector.items()))


def _config_hash(spec: DeploymentSpec) -> str:
    digest = hashlib.sha256()
    for slot in spec.stack.config_slots:
        content = spec.config_content(slot.name) or ""
        digest.update(json.dumps([slot.name, slot.key, content]).encode())
    return digest.hexdigest()


def _pod_template(spec: DeploymentSpec, container: Manifest, storage: PodStorage) -> Manifest:
    stack = spec.stack
    metadata: Manifest = {"labels": {**common_labels(spec), **selector_labels(spec)}}
    annotations: dict[str, str] = {}
    if stack.config_slots:
        annotations[CONFIG_HASH_ANNOTATION] = _config_hash(spec)
    if stack.resources.vram_request_mb:
        annotations[VRAM_ANNOTATION] = str(stack.resources.vram_request_mb)
    if annotations:
        metadata["annotations"] = annotations
    pod: Manifest = {"enableServiceLinks": False}
    if stack.host_network:
        pod["hostNetwork"] = True
    pod["dnsPolicy"] = stack.dns_policy
    if stack.resources.gpu_count:
        pod["runtimeClassName"] = GPU_RUNTIME_CLASS
    node_selector = _node_selector(spec)
    if node_selector:
        pod["nodeSelector"] = node_selector
    if stack.registry_secret is not None or spec.registry_credentials is not None:
        pod["imagePullSecrets"] = [{"name": pull_secret_name(spec)}]
    if stack.kind == "job":
        pod["restartPolicy"] = "OnFailure"
    pod["containers"] = [container]
    if storage.volumes:
        pod["volumes"] = storage.volumes
    return {"metadata": metadata, "spec": pod}


def _needs_recreate(spec: DeploymentSpec) -> bool:
    stack = spec.stack
    return (
        stack.resources.gpu_count > 0
        or stack.host_network
        or any(isinstance(v, PvcVolume) and v.access_mode in ("RWO", "RWOP") for v in stack.volumes)
    )


def _workload(spec: DeploymentSpec, template: Manifest) -> Manifest:
    api_version, kind = _WORKLOAD[spec.stack.kind]
    body: Manifest
    if kind == "Job":
        body = {"completions": spec.replicas, "parallelism": spec.replicas, "template": template}
    else:
        body = {"selector": {"matchLabels": selector_labels(spec)}}
        if kind == "Deployment":
            body = {"replicas": spec.replicas, **body}
            if _needs_recreate(spec):
                body["strategy"] = {"type": "Recreate"}
        body["template"] = template
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": _metadata(spec, spec.name),
        "spec": body,
    }


def render_deployment(spec: DeploymentSpec) -> list[Manifest]:
    """Render one deployment (see the module docstring). Pure and deterministic."""
    secret_name = env_secret_name(spec)
    storage = render_storage(spec, secret_name)
    env, secret_data = render_env(spec, secret_name, storage.env)
    secret_data.update(storage.secret_data)
    template = _pod_template(spec, _container(spec, storage, env), storage)

    manifests: list[Manifest] = [_namespace(spec)]
    if secret_data:
        manifests.append(_opaque_secret(spec, secret_data))
    pull_secret = _pull_secret(spec)
    if pull_secret is not None:
        manifests.append(pull_secret)
    manifests += storage.config_maps
    manifests += storage.claims
    manifests += _services(spec)
    manifests.append(_workload(spec, template))
    return manifests


def redact(manifests: list[Manifest]) -> list[Manifest]:
    """A deep copy with every Secret value replaced by the base64 of :data:`REDACTED`.

    For plans, stored revisions and job output; works on rendered and live objects
    (``data`` and ``stringData``).
    """
    masked = _b64(REDACTED)
    out: list[Manifest] = []
    for manifest in manifests:
        item = copy.deepcopy(manifest)
        if item.get("kind") == "Secret":
            for key in ("data", "stringData"):
                values = item.get(key)
                if isinstance(values, dict):
                    item[key] = {name: masked if key == "data" else REDACTED for name in values}
        out.append(item)
    return out


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _increase_indent(self: Any, flow: bool = False, indentless: bool = False) -> None:
    yaml.SafeDumper.increase_indent(self, flow, False)


_Dumper: Any = type("_ManifestDumper", (yaml.SafeDumper,), {"increase_indent": _increase_indent})
_Dumper.add_representer(str, _represent_str)


def to_yaml(manifests: list[Manifest]) -> str:
    """Multi-document YAML (``---`` separated), keys in render order, text blocks as ``|``."""
    text: str = yaml.dump_all(
        manifests,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=4096,
        explicit_start=True,
    )
    return text
