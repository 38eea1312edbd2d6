"""A stack's volumes and config slots → pod volumes, mounts, PVCs, ConfigMaps and S3 env.

* emptyDir / hostPath / configMap / secret: a pod volume and a mount;
* pvc: a PersistentVolumeClaim manifest (size, access mode, storage class) with
  the annotation :data:`RETAIN_ANNOTATION` (``"true"``/``"false"``) that undeploy
  reads, a pod volume and a mount;
* nfs: a pod volume whose server and path come from the resolved storage
  connection (``sub_path`` is joined to the export path);
* s3: no mount — environment variables ``<prefix>ENDPOINT``, ``<prefix>BUCKET``,
  ``<prefix>REGION``, ``<prefix>PREFIX`` (those the connection has) inline, and
  ``<prefix>ACCESS_KEY_ID`` / ``<prefix>SECRET_ACCESS_KEY`` from the deployment's
  Secret (keys ``s3.<volume>.access-key-id`` / ``s3.<volume>.secret-access-key``);
* config slots: one ConfigMap each (key = the slot's ``key``), mounted read-only
  with ``subPath`` at the slot's ``mount_path``; pod volume names ``config-<slot>``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from podwarden.engine.render.naming import claim_name, common_labels, config_map_name, dns_label
from podwarden.engine.schemas.deployments import DeploymentSpec
from podwarden.engine.schemas.stacks import (
    ConfigMapVolume,
    EmptyDirVolume,
    HostPathVolume,
    NfsVolume,
    PvcVolume,
    S3Volume,
    SecretVolume,
)

__all__ = [
    "ACCESS_MODES",
    "CONFIG_SLOT_LABEL",
    "RETAIN_ANNOTATION",
    "VOLUME_LABEL",
    "PodStorage",
    "render_storage",
]

Manifest = dict[str, Any]

RETAIN_ANNOTATION = "podwarden.io/retain-on-undeploy"
VOLUME_LABEL = "podwarden.io/volume"
CONFIG_SLOT_LABEL = "podwarden.io/config-slot"
ACCESS_MODES = {
    "RWO": "ReadWriteOnce",
    "ROX": "ReadOnlyMany",
    "RWX": "ReadWriteMany",
    "RWOP": "ReadWriteOncePod",
}


@dataclass
class PodStorage:
    """What the volumes and config slots of one deployment add to the manifests."""

    volumes: list[Manifest] = field(default_factory=list)
    mounts: list[Manifest] = field(default_factory=list)
    claims: list[Manifest] = field(default_factory=list)
    config_maps: list[Manifest] = field(default_factory=list)
    env: list[Manifest] = field(default_factory=list)
    secret_data: dict[str, str] = field(default_factory=dict)


def _mount(name: str, path: str, read_only: bool = False, sub_path: str | None = None) -> Manifest:
    mount: Manifest = {"name": name, "mountPath": path}
    if sub_path is not None:
        mount["subPath"] = sub_path
    if read_only:
        mount["readOnly"] = True
    return mount


def _metadata(spec: DeploymentSpec, name: str, extra: dict[str, str]) -> Manifest:
    return {"name": name, "namespace": spec.namespace, "labels": {**common_labels(spec), **extra}}


def _claim(spec: DeploymentSpec, volume: PvcVolume) -> Manifest:
    metadata = _metadata(spec, claim_name(spec, volume), {VOLUME_LABEL: volume.name})
    metadata["annotations"] = {RETAIN_ANNOTATION: "true" if volume.retain_on_undeploy else "false"}
    claim_spec: Manifest = {
        "accessModes": [ACCESS_MODES[volume.access_mode]],
        "resources": {"requests": {"storage": volume.size}},
    }
    if volume.storage_class is not None:
        claim_spec["storageClassName"] = volume.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": claim_spec}


def _s3(spec: DeploymentSpec, volume: S3Volume, secret_name: str, out: PodStorage) -> None:
    connection = spec.storage_connection(volume.storage_connection)
    if connection is None:  # DeploymentSpec validation makes this unreachable
        raise ValueError(f"storage connection {volume.storage_connection!r} is missing")
    prefix = volume.env_prefix
    plain = (
        ("ENDPOINT", connection.endpoint),
        ("BUCKET", connection.bucket),
        ("REGION", connection.region),
        ("PREFIX", connection.prefix),
    )
    out.env += [{"name": f"{prefix}{key}", "value": value} for key, value in plain if value is not None]
    if connection.access_key_id is None or connection.secret_access_key is None:
        return
    credentials = (
        ("ACCESS_KEY_ID", "access-key-id", connection.access_key_id.get_secret_value()),
        ("SECRET_ACCESS_KEY", "secret-access-key", connection.secret_access_key.get_secret_value()),
    )
    for env_suffix, key_suffix, value in credentials:
        key = f"s3.{volume.name}.{key_suffix}"
        out.secret_data[key] = value
        out.env.append(
            {
                "name": f"{prefix}{env_suffix}",
                "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}},
            }
        )


_Mounted = EmptyDirVolume | HostPathVolume | PvcVolume | NfsVolume | ConfigMapVolume | SecretVolume


def _volume(spec: DeploymentSpec, volume: _Mounted, out: PodStorage) -> Manifest:
    """The pod volume for one (non-S3) stack volume; PVC manifests go to ``out.claims``."""
    if isinstance(volume, EmptyDirVolume):
        empty: Manifest = {}
        if volume.medium is not None:
            empty["medium"] = volume.medium
        if volume.size_limit is not None:
            empty["sizeLimit"] = volume.size_limit
        return {"name": volume.name, "emptyDir": empty}
    if isinstance(volume, HostPathVolume):
        host: Manifest = {"path": volume.path}
        if volume.host_path_type:
            host["type"] = volume.host_path_type
        return {"name": volume.name, "hostPath": host}
    if isinstance(volume, PvcVolume):
        out.claims.append(_claim(spec, volume))
        source: Manifest = {"claimName": claim_name(spec, volume)}
        if volume.read_only:
            source["readOnly"] = True
        return {"name": volume.name, "persistentVolumeClaim": source}
    if isinstance(volume, NfsVolume):
        connection = spec.storage_connection(volume.storage_connection)
        if connection is None or connection.server is None or connection.path is None:
            raise ValueError(f"storage connection {volume.storage_connection!r} is missing")
        path = connection.path
        if volume.sub_path:
            path = posixpath.normpath(posixpath.join(path, volume.sub_path))
        nfs: Manifest = {"server": connection.server, "path": path}
        if volume.read_only:
            nfs["readOnly"] = True
        return {"name": volume.name, "nfs": nfs}
    if isinstance(volume, ConfigMapVolume):
        return {"name": volume.name, "configMap": {"name": volume.source}}
    return {"name": volume.name, "secret": {"secretName": volume.source}}


def render_storage(spec: DeploymentSpec, secret_name: str) -> PodStorage:
    """Volumes first (stack order), then config slots (slot order)."""
    out = PodStorage()
    used = {volume.name for volume in spec.stack.volumes}
    for volume in spec.stack.volumes:
        if isinstance(volume, S3Volume):
            _s3(spec, volume, secret_name, out)
            continue
        out.volumes.append(_volume(spec, volume, out))
        read_only = bool(getattr(volume, "read_only", False))
        out.mounts.append(_mount(volume.name, volume.mount_path, read_only))
    for slot in spec.stack.config_slots:
        name = dns_label("config", slot.name)
        counter = 2
        while name in used:
            name = dns_label("config", slot.name, str(counter))
            counter += 1
        used.add(name)
        map_name = config_map_name(spec, slot)
        out.config_maps.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _metadata(spec, map_name, {CONFIG_SLOT_LABEL: slot.name}),
                "data": {slot.key: spec.config_content(slot.name) or ""},
            }
        )
        out.volumes.append({"name": name, "configMap": {"name": map_name}})
        out.mounts.append(_mount(name, slot.mount_path, read_only=True, sub_path=slot.key))
    return out
