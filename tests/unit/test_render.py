"""Deployment inputs → Kubernetes manifests: golden files, kubernetes-validate (strict), targeted rules.

Golden files live in ``golden/``; rewrite them with ``PODWARDEN_UPDATE_GOLDEN=1``
after a deliberate change and read the diff before committing.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podwarden.engine.errors import ValidationError
from podwarden.engine.parsers.compose import import_compose
from podwarden.engine.render import KUBERNETES_VERSION, redact, render_deployment, to_yaml
from podwarden.engine.render.manifests import CONFIG_HASH_ANNOTATION, Manifest
from podwarden.engine.render.naming import dns_label, service_name
from podwarden.engine.schemas.deployments import (
    DeploymentSpec,
    Placement,
    compose_aliases,
    validate_deployment_spec,
)
from podwarden.engine.schemas.stacks import Stack, validate_stack
from podwarden.engine.security.crypto import SecretValue

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
COMPOSE = HERE / "data" / "compose"
STACK_ID = uuid.UUID("5ac0ffee-0000-4000-8000-000000000001")


@pytest.fixture(autouse=True, scope="module")
def _parsed_schemas_kept() -> Iterator[None]:
    """kubernetes-validate re-reads and re-parses its JSON schema files on every call
    (~30 ms, 10× the validation itself); keep the parsed files for this module. The
    validation is unchanged: same schemas, same jsonschema validator."""
    with pytest.MonkeyPatch.context() as patch:
        loader = kubernetes_validate.utils.schema_contents
        patch.setattr(kubernetes_validate.utils, "schema_contents", functools.lru_cache(maxsize=None)(loader))
        yield


def dep_id(n: int) -> uuid.UUID:
    return uuid.UUID(f"d0000000-0000-4000-8000-{n:012d}")


# --------------------------------------------------------------------------- #
# The stacks of the golden files
# --------------------------------------------------------------------------- #


def web_stack(**changes: Any) -> Stack:
    data: dict[str, Any] = {
        "name": "web",
        "image": "acme/web",
        "image_tag": "1.4.2",
        "registry_url": "registry.example.com:5000",
        "registry_secret": "example-registry",
        "ports": [
            {"name": "http", "container_port": 8080},
            {"name": "metrics", "container_port": 9113},
        ],
        "resources": {
            "cpu_request": "250m",
            "cpu_limit": "1",
            "memory_request": "128Mi",
            "memory_limit": "256Mi",
        },
        "env_schema": [
            {"name": "APP_MODE", "default_value": "production"},
            {"name": "API_TOKEN", "required": True, "secret": True},
            {"name": "SESSION_KEY", "generate": True, "secret": True},
            {"name": "OPTIONAL_FLAG"},
        ],
        "env": [
            {"name": "PUBLIC_URL", "value": "http://web.{{namespace}}.svc.cluster.local:8080"},
            {"name": "LOG_PREFIX", "value": "$(APP_MODE)-web"},
        ],
        "config_slots": [
            {
                "name": "nginx",
                "key": "default.conf",
                "mount_path": "/etc/nginx/conf.d/default.conf",
                "file_type": "nginx",
                "default_content": "server { listen 8080; }\n",
            },
            {
                "name": "settings",
                "key": "settings.yaml",
                "mount_path": "/app/config/settings.yaml",
                "file_type": "yaml",
                "required": True,
                "default_content": "debug: true\n",
            },
        ],
        "volumes": [
            {"type": "emptyDir", "name": "cache", "mount_path": "/var/cache/web", "medium": "Memory"},
            {
                "type": "pvc",
                "name": "uploads",
                "mount_path": "/app/uploads",
                "size": "5Gi",
                "access_mode": "RWX",
                "storage_class": "longhorn",
                "retain_on_undeploy": False,
            },
        ],
        "node_selector": {"podwarden.io/role": "apps"},
    }
    data.update(changes)
    return validate_stack(data)


def web_spec(**changes: Any) -> DeploymentSpec:
    data: dict[str, Any] = {
        "deployment_id": dep_id(1),
        "stack_id": STACK_ID,
        "name": "web",
        "namespace": "apps",
        "stack": web_stack(),
        "replicas": 2,
        "env_values": {"APP_MODE": "staging"},
        "secret_values": {"API_TOKEN": "token-123", "SESSION_KEY": "generated-0123456789"},
        "config_values": {"settings": "debug: false\nworkers: 4\n"},
        "placement": {"node_selector": {"topology.kubernetes.io/zone": "home"}},
        "registry_credentials": {"username": "deploy", "password": "hunter2"},
        "service_aliases": ["frontend"],
    }
    data.update(changes)
    return DeploymentSpec.model_validate(data)


def gpu_job_spec(**changes: Any) -> DeploymentSpec:
    stack = validate_stack(
        {
            "name": "trainer",
            "kind": "job",
            "image": "pytorch/pytorch",
            "image_tag": "2.4.0-cuda12.1-cudnn9-runtime",
            "command": ["python"],
            "args": ["train.py", "--epochs", "3", "--data", "/data/sets"],
            "resources": {
                "cpu_request": "4",
                "memory_request": "16Gi",
                "memory_limit": "24Gi",
                "gpu_count": 2,
                "vram_request_mb": 16000,
            },
            "env": [{"name": "CHECKPOINT_URL", "value": "s3://$(MODELS_BUCKET)/{{namespace}}/ckpt"}],
            "volumes": [
                {
                    "type": "nfs",
                    "name": "datasets",
                    "mount_path": "/data/sets",
                    "storage_connection": "nas",
                    "sub_path": "ml/datasets",
                    "read_only": True,
                },
                {"type": "s3", "name": "models", "storage_connection": "minio", "env_prefix": "MODELS_"},
                {"type": "emptyDir", "name": "scratch", "mount_path": "/scratch", "size_limit": "20Gi"},
            ],
            "required_network_types": ["lan"],
        }
    )
    data: dict[str, Any] = {
        "deployment_id": dep_id(2),
        "stack_id": STACK_ID,
        "name": "trainer-run-7",
        "namespace": "ml",
        "stack": stack,
        "placement": {"hostname": "gpu-node-1"},
        "storage_connections": [
            {
                "name": "nas",
                "kind": "nfs",
                "server": "10.0.0.5",
                "path": "/export/shared",
                "network_types": ["lan"],
            },
            {
                "name": "minio",
                "kind": "s3",
                "endpoint": "http://10.0.0.6:9000",
                "bucket": "models",
                "region": "us-east-1",
                "access_key_id": "AKIAEXAMPLE",
                "secret_access_key": "s3-secret-key",
                "network_types": ["lan", "mesh"],
            },
        ],
    }
    data.update(changes)
    return DeploymentSpec.model_validate(data)


def node_exporter_spec(**changes: Any) -> DeploymentSpec:
    stack = validate_stack(
        {
            "name": "node-exporter",
            "kind": "daemonset",
            "image": "prom/node-exporter",
            "image_tag": "v1.8.2",
            "args": ["--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host/root"],
            "ports": [{"name": "metrics", "container_port": 9100}],
            "resources": {"cpu_request": "50m", "memory_request": "64Mi", "memory_limit": "128Mi"},
            "volumes": [
                {
                    "type": "hostPath",
                    "name": "proc",
                    "mount_path": "/host/proc",
                    "path": "/proc",
                    "host_path_type": "Directory",
                    "read_only": True,
                },
                {
                    "type": "hostPath",
                    "name": "sys",
                    "mount_path": "/host/sys",
                    "path": "/sys",
                    "host_path_type": "Directory",
                    "read_only": True,
                },
                {
                    "type": "hostPath",
                    "name": "root",
                    "mount_path": "/host/root",
                    "path": "/",
                    "host_path_type": "",
                    "read_only": True,
                },
            ],
            "host_network": True,
            "dns_policy": "ClusterFirstWithHostNet",
        }
    )
    data: dict[str, Any] = {
        "deployment_id": dep_id(3),
        "name": "node-exporter",
        "namespace": "monitoring",
        "stack": stack,
    }
    data.update(changes)
    return DeploymentSpec.model_validate(data)


def shop_specs() -> list[DeploymentSpec]:
    """The web + postgres + redis compose file as three deployments sharing a namespace."""
    imported = import_compose((COMPOSE / "web_postgres_redis.yml").read_text(), project_name="shop")
    shared = {"POSTGRES_PASSWORD": "pg-pass-42", "SECRET_KEY": "django-secret"}
    specs: list[DeploymentSpec] = []
    for index, stack in enumerate(imported.stacks):
        names = {item.name for item in stack.env_schema}
        specs.append(
            DeploymentSpec.model_validate(
                {
                    "deployment_id": dep_id(10 + index),
                    "stack_id": uuid.UUID(int=100 + index),
                    "name": f"shop-{stack.name}",
                    "namespace": "shop",
                    "stack": stack,
                    "replicas": imported.replicas.get(stack.name, 1),
                    "secret_values": {key: value for key, value in shared.items() if key in names},
                    "service_aliases": compose_aliases(imported.aliases, stack.name),
                }
            )
        )
    return specs


def _shop(index: int) -> Callable[[], DeploymentSpec]:
    return lambda: shop_specs()[index]


CASES: dict[str, Callable[[], DeploymentSpec]] = {
    "web": web_spec,
    "gpu-job": gpu_job_spec,
    "node-exporter": node_exporter_spec,
    "shop-web": _shop(0),
    "shop-db": _shop(1),
    "shop-cache": _shop(2),
}


def validate_all(manifests: list[Manifest]) -> None:
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = by_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def pod_of(manifests: list[Manifest]) -> Manifest:
    workload = manifests[-1]
    assert workload["kind"] in ("Deployment", "DaemonSet", "Job")
    pod: Manifest = workload["spec"]["template"]["spec"]
    return pod


def container_of(manifests: list[Manifest]) -> Manifest:
    container: Manifest = pod_of(manifests)["containers"][0]
    return container


# --------------------------------------------------------------------------- #
# Golden files and schema validation
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    text = to_yaml(render_deployment(CASES[case]()))
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("PODWARDEN_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with PODWARDEN_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{case} differs from {path.name}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_manifest_passes_kubernetes_validate_strict(case: str) -> None:
    validate_all(render_deployment(CASES[case]()))


def test_the_validator_is_strict_and_the_version_is_supported() -> None:
    assert (
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
            KUBERNETES_VERSION,
            strict=True,
        )
        == KUBERNETES_VERSION
    )
    bad = render_deployment(web_spec())[-1]
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_all([bad])
    unknown = render_deployment(web_spec())[-1]
    unknown["spec"]["template"]["spec"]["hostnetwork"] = True  # wrong case: only strict mode refuses it
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_all([unknown])


def test_golden_yaml_parses_back_to_the_rendered_objects() -> None:
    manifests = render_deployment(web_spec())
    assert list(yaml.safe_load_all(to_yaml(manifests))) == manifests


def test_rendering_is_deterministic_and_pure() -> None:
    spec = web_spec()
    before = spec.model_copy(deep=True)
    first = render_deployment(spec)
    second = render_deployment(spec)
    assert first == second
    assert to_yaml(first) == to_yaml(second)
    assert spec == before
    first[-1]["spec"]["replicas"] = 99  # the result shares nothing with later renders
    assert render_deployment(spec)[-1]["spec"]["replicas"] == 2


# --------------------------------------------------------------------------- #
# Order, labels, names
# --------------------------------------------------------------------------- #


def test_object_order() -> None:
    kinds = [(m["kind"], m["metadata"]["name"]) for m in render_deployment(web_spec())]
    assert kinds == [
        ("Namespace", "apps"),
        ("Secret", "web-env"),
        ("Secret", "web-registry"),
        ("ConfigMap", "web-nginx"),
        ("ConfigMap", "web-settings"),
        ("PersistentVolumeClaim", "web-uploads"),
        ("Service", "web"),
        ("Service", "frontend"),
        ("Deployment", "web"),
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_labels_on_every_object(case: str) -> None:
    spec = CASES[case]()
    manifests = render_deployment(spec)
    namespace = manifests[0]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "podwarden"}
    for manifest in manifests[1:]:
        labels = manifest["metadata"]["labels"]
        assert manifest["metadata"]["namespace"] == spec.namespace
        assert labels["app.kubernetes.io/managed-by"] == "podwarden"
        assert labels["app.kubernetes.io/name"] == spec.stack.name
        assert labels["app.kubernetes.io/instance"] == spec.name
        assert labels["podwarden.io/deployment-id"] == str(spec.deployment_id)
        if spec.stack_id is None:
            assert "podwarden.io/stack-id" not in labels
        else:
            assert labels["podwarden.io/stack-id"] == str(spec.stack_id)
    workload = manifests[-1]
    template_labels = workload["spec"]["template"]["metadata"]["labels"]
    selector = {
        "app.kubernetes.io/instance": spec.name,
        "podwarden.io/deployment-id": str(spec.deployment_id),
    }
    assert selector.items() <= template_labels.items()
    if workload["kind"] != "Job":
        assert workload["spec"]["selector"] == {"matchLabels": selector}
    for service in by_kind(manifests, "Service"):
        assert service["spec"]["selector"] == selector


def test_long_names_are_cut_with_a_hash_and_stay_distinct() -> None:
    long_a = "a" * 59 + "-one"
    long_b = "a" * 59 + "-two"
    assert len(long_a) <= 63
    name_a, name_b = dns_label(long_a, "settings"), dns_label(long_b, "settings")
    assert len(name_a) <= 63 and len(name_b) <= 63
    assert name_a != name_b
    assert dns_label(long_a, "settings") == name_a  # stable
    assert dns_label("web", "env") == "web-env"
    assert service_name("1app") == "s-1app"
    spec = web_spec(name="w" * 63, service_aliases=["9lives"])
    manifests = render_deployment(spec)
    validate_all(manifests)
    for manifest in manifests:
        assert len(manifest["metadata"]["name"]) <= 63
    for volume in pod_of(manifests)["volumes"]:
        assert len(volume["name"]) <= 63
    assert [s["metadata"]["name"] for s in by_kind(manifests, "Service")] == ["w" * 63, "s-9lives"]


# --------------------------------------------------------------------------- #
# Environment
# --------------------------------------------------------------------------- #


def test_env_schema_first_then_fixed_env() -> None:
    env = container_of(render_deployment(web_spec()))["env"]
    assert [item["name"] for item in env] == [
        "APP_MODE",
        "API_TOKEN",
        "SESSION_KEY",
        "PUBLIC_URL",
        "LOG_PREFIX",
    ]
    assert env[0] == {"name": "APP_MODE", "value": "staging"}  # the deployment's value beats the default
    assert env[4] == {"name": "LOG_PREFIX", "value": "$(APP_MODE)-web"}  # refers to an earlier variable


def test_secret_env_uses_secret_key_ref_to_one_secret() -> None:
    manifests = render_deployment(web_spec())
    env = {item["name"]: item for item in container_of(manifests)["env"]}
    for name in ("API_TOKEN", "SESSION_KEY"):
        assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": "web-env", "key": name}}}
    secrets = [s for s in by_kind(manifests, "Secret") if s["type"] == "Opaque"]
    assert len(secrets) == 1
    decoded = {k: base64.b64decode(v).decode() for k, v in secrets[0]["data"].items()}
    assert decoded == {"API_TOKEN": "token-123", "SESSION_KEY": "generated-0123456789"}
    assert "token-123" not in json.dumps(pod_of(manifests))


def test_values_without_a_value_are_left_out() -> None:
    spec = web_spec(secret_values={})
    env = [item["name"] for item in container_of(render_deployment(spec))["env"]]
    assert "API_TOKEN" not in env and "SESSION_KEY" not in env and "OPTIONAL_FLAG" not in env
    assert not [s for s in by_kind(render_deployment(spec), "Secret") if s["type"] == "Opaque"]


def test_namespace_placeholder_is_replaced_everywhere() -> None:
    spec = gpu_job_spec(namespace="research")
    container = container_of(render_deployment(spec))
    env = {item["name"]: item for item in container["env"]}
    assert env["CHECKPOINT_URL"]["value"] == "s3://$(MODELS_BUCKET)/research/ckpt"
    shop_web = render_deployment(shop_specs()[0])
    text = to_yaml(shop_web)
    assert "{{namespace}}" not in text
    assert "db.shop.svc.cluster.local:5432" in text


def test_compose_web_env_order_lets_database_url_expand() -> None:
    env = container_of(render_deployment(shop_specs()[0]))["env"]
    names = [item["name"] for item in env]
    assert names.index("POSTGRES_PASSWORD") < names.index("DATABASE_URL")
    assert env[names.index("POSTGRES_PASSWORD")]["valueFrom"]["secretKeyRef"] == {
        "name": "shop-web-env",
        "key": "POSTGRES_PASSWORD",
    }


def test_s3_volume_injects_env_with_credentials_from_the_secret() -> None:
    manifests = render_deployment(gpu_job_spec())
    env = container_of(manifests)["env"]
    assert [item["name"] for item in env] == [
        "MODELS_ENDPOINT",
        "MODELS_BUCKET",
        "MODELS_REGION",
        "MODELS_ACCESS_KEY_ID",
        "MODELS_SECRET_ACCESS_KEY",
        "CHECKPOINT_URL",
    ]
    assert env[0]["value"] == "http://10.0.0.6:9000"
    assert env[3]["valueFrom"]["secretKeyRef"] == {
        "name": "trainer-run-7-env",
        "key": "s3.models.access-key-id",
    }
    secret = one(manifests, "Secret")
    assert base64.b64decode(secret["data"]["s3.models.secret-access-key"]).decode() == "s3-secret-key"
    assert "models" not in [v["name"] for v in pod_of(manifests)["volumes"]]  # no mount for S3


# --------------------------------------------------------------------------- #
# Volumes and config files
# --------------------------------------------------------------------------- #


def test_config_slots_one_configmap_each_mounted_with_subpath() -> None:
    manifests = render_deployment(web_spec())
    maps = {m["metadata"]["name"]: m for m in by_kind(manifests, "ConfigMap")}
    assert maps["web-nginx"]["data"] == {"default.conf": "server { listen 8080; }\n"}  # default content
    assert maps["web-settings"]["data"] == {"settings.yaml": "debug: false\nworkers: 4\n"}  # user wins
    mounts = {m["mountPath"]: m for m in container_of(manifests)["volumeMounts"]}
    assert mounts["/etc/nginx/conf.d/default.conf"] == {
        "name": "config-nginx",
        "mountPath": "/etc/nginx/conf.d/default.conf",
        "subPath": "default.conf",
        "readOnly": True,
    }
    assert mounts["/app/config/settings.yaml"]["subPath"] == "settings.yaml"
    volumes = {v["name"]: v for v in pod_of(manifests)["volumes"]}
    assert volumes["config-settings"] == {"name": "config-settings", "configMap": {"name": "web-settings"}}


def test_config_change_changes_the_pod_template_hash() -> None:
    def hash_of(spec: DeploymentSpec) -> str:
        value: str = render_deployment(spec)[-1]["spec"]["template"]["metadata"]["annotations"][
            CONFIG_HASH_ANNOTATION
        ]
        return value

    assert hash_of(web_spec()) == hash_of(web_spec())
    assert hash_of(web_spec()) != hash_of(web_spec(config_values={"settings": "debug: true\n"}))


def test_config_volume_name_avoids_a_stack_volume_of_the_same_name() -> None:
    stack = web_stack(volumes=[{"type": "emptyDir", "name": "config-nginx", "mount_path": "/tmp/x"}])
    manifests = render_deployment(web_spec(stack=stack))
    names = [v["name"] for v in pod_of(manifests)["volumes"]]
    assert len(names) == len(set(names))
    validate_all(manifests)


def test_pvc_manifest_and_retain_annotation() -> None:
    manifests = render_deployment(web_spec())
    claim = one(manifests, "PersistentVolumeClaim")
    assert claim["metadata"]["annotations"] == {"podwarden.io/retain-on-undeploy": "false"}
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "longhorn",
    }
    volumes = {v["name"]: v for v in pod_of(manifests)["volumes"]}
    assert volumes["uploads"] == {"name": "uploads", "persistentVolumeClaim": {"claimName": "web-uploads"}}
    db = render_deployment(shop_specs()[1])
    db_claim = one(db, "PersistentVolumeClaim")
    assert db_claim["metadata"]["name"] == "shop-pgdata"  # the compose claim name
    assert db_claim["metadata"]["annotations"] == {"podwarden.io/retain-on-undeploy": "true"}


def test_nfs_volume_from_the_storage_connection() -> None:
    volumes = {v["name"]: v for v in pod_of(render_deployment(gpu_job_spec()))["volumes"]}
    assert volumes["datasets"] == {
        "name": "datasets",
        "nfs": {"server": "10.0.0.5", "path": "/export/shared/ml/datasets", "readOnly": True},
    }
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {"sizeLimit": "20Gi"}}


def test_hostpath_and_host_network_daemonset() -> None:
    manifests = render_deployment(node_exporter_spec())
    workload = manifests[-1]
    assert workload["kind"] == "DaemonSet"
    assert "replicas" not in workload["spec"]
    pod = pod_of(manifests)
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["proc"] == {"name": "proc", "hostPath": {"path": "/proc", "type": "Directory"}}
    assert volumes["root"] == {"name": "root", "hostPath": {"path": "/"}}
    assert all(m["readOnly"] for m in container_of(manifests)["volumeMounts"])


# --------------------------------------------------------------------------- #
# GPUs, workloads, placement, images
# --------------------------------------------------------------------------- #


def test_gpu_limit_and_runtime_class() -> None:
    manifests = render_deployment(gpu_job_spec())
    container = container_of(manifests)
    assert container["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi"},
        "limits": {"memory": "24Gi", "nvidia.com/gpu": "2"},
    }
    pod = pod_of(manifests)
    assert pod["runtimeClassName"] == "nvidia"
    assert manifests[-1]["spec"]["template"]["metadata"]["annotations"] == {
        "podwarden.io/vram-request-mb": "16000"
    }
    assert "runtimeClassName" not in pod_of(render_deployment(web_spec()))


def test_job_shape() -> None:
    job = render_deployment(gpu_job_spec(replicas=3))[-1]
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["spec"]["completions"] == 3 and job["spec"]["parallelism"] == 3
    assert "selector" not in job["spec"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_rollout_strategy() -> None:
    assert "strategy" not in render_deployment(web_spec())[-1]["spec"]  # RWX claim: rolling is fine
    for spec in (
        shop_specs()[1],
        web_spec(stack=web_stack(host_network=True, dns_policy="ClusterFirstWithHostNet")),
    ):
        assert render_deployment(spec)[-1]["spec"]["strategy"] == {"type": "Recreate"}
    gpu = web_stack(resources={"gpu_count": 1})
    assert render_deployment(web_spec(stack=gpu))[-1]["spec"]["strategy"] == {"type": "Recreate"}


def test_node_selector_and_pinned_host() -> None:
    assert pod_of(render_deployment(web_spec()))["nodeSelector"] == {
        "podwarden.io/role": "apps",
        "topology.kubernetes.io/zone": "home",
    }
    assert pod_of(render_deployment(gpu_job_spec()))["nodeSelector"] == {
        "kubernetes.io/hostname": "gpu-node-1"
    }
    assert "nodeSelector" not in pod_of(render_deployment(node_exporter_spec()))


def test_image_reference_rules() -> None:
    assert container_of(render_deployment(web_spec()))["image"] == "registry.example.com:5000/acme/web:1.4.2"
    untagged = web_stack(image_tag=None, registry_url=None)
    cases = [
        (web_spec(stack=untagged, default_image_tag="stable"), "acme/web:stable"),
        (web_spec(stack=untagged), "acme/web"),
        (web_spec(stack=untagged, registry_url="mirror.local:5000"), "mirror.local:5000/acme/web"),
        (web_spec(registry_url="mirror.local:5000"), "registry.example.com:5000/acme/web:1.4.2"),
        (
            web_spec(stack=web_stack(image_tag="sha256:" + "ab" * 32)),
            "registry.example.com:5000/acme/web@sha256:" + "ab" * 32,
        ),
    ]
    for spec, expected in cases:
        assert container_of(render_deployment(spec))["image"] == expected


def test_registry_pull_secret() -> None:
    manifests = render_deployment(web_spec())
    assert pod_of(manifests)["imagePullSecrets"] == [{"name": "web-registry"}]
    pull = next(s for s in by_kind(manifests, "Secret") if s["type"] == "kubernetes.io/dockerconfigjson")
    config = json.loads(base64.b64decode(pull["data"][".dockerconfigjson"]))
    entry = config["auths"]["registry.example.com:5000"]
    assert (entry["username"], entry["password"]) == ("deploy", "hunter2")
    assert base64.b64decode(entry["auth"]).decode() == "deploy:hunter2"
    # Without decrypted credentials only the reference is rendered (the deploy service creates it).
    bare = render_deployment(web_spec(registry_credentials=None))
    assert pod_of(bare)["imagePullSecrets"] == [{"name": "web-registry"}]
    assert all(s["type"] != "kubernetes.io/dockerconfigjson" for s in by_kind(bare, "Secret"))
    # No registry secret on the stack and no credentials: no reference at all.
    public = render_deployment(node_exporter_spec())
    assert "imagePullSecrets" not in pod_of(public)
    # Docker Hub images get Docker Hub's config key.
    hub = web_spec(stack=web_stack(registry_url=None))
    hub_pull = next(s for s in by_kind(render_deployment(hub), "Secret") if s["type"] != "Opaque")
    assert list(json.loads(base64.b64decode(hub_pull["data"][".dockerconfigjson"]))["auths"]) == [
        "https://index.docker.io/v1/"
    ]


# --------------------------------------------------------------------------- #
# Services
# --------------------------------------------------------------------------- #


def test_services_and_compose_aliases() -> None:
    manifests = render_deployment(shop_specs()[1])
    services = by_kind(manifests, "Service")
    assert [s["metadata"]["name"] for s in services] == ["shop-db", "db"]
    assert services[1]["spec"]["ports"] == [
        {"name": "tcp-5432", "protocol": "TCP", "port": 5432, "targetPort": "tcp-5432"}
    ]
    # An alias equal to the deployment's own name does not make a second Service.
    same = DeploymentSpec.model_validate({**shop_specs()[1].model_dump(), "name": "db", "secret_values": {}})
    assert [s["metadata"]["name"] for s in by_kind(render_deployment(same), "Service")] == ["db"]
    # A stack without ports gets no Service.
    no_ports = web_spec(stack=web_stack(ports=[]))
    assert by_kind(render_deployment(no_ports), "Service") == []


# --------------------------------------------------------------------------- #
# Redaction and the input type
# --------------------------------------------------------------------------- #


def test_redact_masks_secret_values_without_touching_the_original() -> None:
    manifests = render_deployment(web_spec())
    masked = redact(manifests)
    text = to_yaml(masked)
    for value in ("token-123", "generated-0123456789", "hunter2"):
        assert base64.b64encode(value.encode()).decode() not in text
    assert base64.b64encode(b"token-123").decode() in to_yaml(manifests)
    assert redact([{"kind": "Secret", "stringData": {"a": "b"}}]) == [
        {"kind": "Secret", "stringData": {"a": "********"}}
    ]
    assert [m["kind"] for m in masked] == [m["kind"] for m in manifests]


def test_spec_masks_secrets_in_repr_and_json() -> None:
    spec = web_spec(secret_values={"API_TOKEN": SecretValue("token-123")})
    assert spec.secret_values["API_TOKEN"].get_secret_value() == "token-123"
    assert "token-123" not in repr(spec)
    assert "hunter2" not in repr(spec)
    dumped = json.dumps(spec.model_dump(mode="json"))
    assert "token-123" not in dumped and "hunter2" not in dumped


def test_validate_deployment_spec_gives_typed_errors() -> None:
    good = web_spec().model_dump()
    good["secret_values"] = {}
    good["registry_credentials"] = None
    assert validate_deployment_spec(good).name == "web"
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "namespace": "Bad_NS"}, "namespace"),
        ({**good, "replicas": -1}, "replicas"),
        ({**good, "surprise": 1}, "surprise"),
        ({**good, "env_values": {"APP_MODE": 5.5}}, "env_values.APP_MODE"),
        ({**good, "placement": {"hostname": "Not A Label!"}}, "placement.hostname"),
        ({**good, "stack": {**good["stack"], "ports": "80"}}, "stack.ports"),
    ]
    for data, path in cases:
        with pytest.raises(ValidationError) as caught:
            validate_deployment_spec(data)
        assert path in caught.value.errors, (path, caught.value.errors)
    bad_inputs: list[object] = [None, [], "x", {"stack": None}]
    for bad in bad_inputs:
        with pytest.raises(ValidationError):
            validate_deployment_spec(bad)


def test_storage_connections_must_match_the_volumes() -> None:
    data = gpu_job_spec().model_dump()
    for connection in data["storage_connections"]:
        for key in ("access_key_id", "secret_access_key"):
            connection[key] = "x"
    assert validate_deployment_spec(data).name == "trainer-run-7"
    missing = {**data, "storage_connections": data["storage_connections"][:1]}
    with pytest.raises(ValidationError, match="minio"):
        validate_deployment_spec(missing)
    swapped = [
        {**data["storage_connections"][0], "name": "minio"},
        {**data["storage_connections"][1], "name": "nas"},
    ]
    with pytest.raises(ValidationError, match="is s3 but storage connection 'minio' is nfs"):
        validate_deployment_spec({**data, "storage_connections": swapped})
    no_server = [{**data["storage_connections"][0], "server": None}, data["storage_connections"][1]]
    with pytest.raises(ValidationError) as caught:
        validate_deployment_spec({**data, "storage_connections": no_server})
    assert "storage_connections.0.server" in caught.value.errors


# --------------------------------------------------------------------------- #
# Any valid stack renders into valid manifests
# --------------------------------------------------------------------------- #

_LABELS = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_PATHS = st.lists(_LABELS, min_size=1, max_size=3, unique=True).map(lambda parts: "/" + "/".join(parts))


@st.composite
def stacks(draw: st.DrawFn) -> Stack:
    kind = draw(st.sampled_from(["deployment", "daemonset", "job"]))
    port_numbers = draw(st.lists(st.integers(1, 65535), max_size=3, unique=True))
    mount_roots = draw(st.lists(_LABELS, max_size=4, unique=True))
    volumes: list[dict[str, Any]] = []
    for index, root in enumerate(mount_roots):
        volume_type = draw(st.sampled_from(["emptyDir", "hostPath", "pvc", "configMap", "secret"]))
        volume: dict[str, Any] = {"type": volume_type, "name": f"v{index}", "mount_path": f"/mnt/{root}"}
        if volume_type == "hostPath":
            volume["path"] = draw(_PATHS)
        elif volume_type == "pvc":
            volume["size"] = draw(st.sampled_from(["1Gi", "500Mi", "10G"]))
            volume["access_mode"] = draw(st.sampled_from(["RWO", "ROX", "RWX", "RWOP"]))
        elif volume_type in ("configMap", "secret"):
            volume["source"] = draw(_LABELS)
        volumes.append(volume)
    slots = [
        {
            "name": f"c{index}",
            "key": f"f{index}.conf",
            "mount_path": f"/etc/app{index}/f.conf",
            "default_content": draw(st.text(max_size=30)),
        }
        for index in range(draw(st.integers(0, 2)))
    ]
    data = {
        "name": draw(_LABELS),
        "kind": kind,
        "image": draw(st.sampled_from(["nginx", "library/redis", "ghcr.io/org/app"])),
        "image_tag": draw(st.one_of(st.none(), st.sampled_from(["1", "v2.0", "latest"]))),
        "command": draw(st.lists(st.text(max_size=10), max_size=2)),
        "args": draw(st.lists(st.text(max_size=10), max_size=3)),
        "ports": [
            {"name": f"p{i}", "container_port": number, "protocol": draw(st.sampled_from(["TCP", "UDP"]))}
            for i, number in enumerate(port_numbers)
        ],
        "resources": {
            "cpu_request": draw(st.sampled_from([None, "100m", "1"])),
            "memory_limit": draw(st.sampled_from([None, "64Mi", "2Gi"])),
            "gpu_count": draw(st.integers(0, 2)),
        },
        "env": [
            {"name": f"E{i}", "value": draw(st.text(max_size=20))} for i in range(draw(st.integers(0, 3)))
        ],
        "env_schema": [
            {"name": f"S{i}", "secret": draw(st.booleans()), "default_value": draw(st.text(max_size=10))}
            for i in range(draw(st.integers(0, 3)))
        ],
        "config_slots": slots,
        "volumes": volumes,
        "host_network": draw(st.booleans()),
    }
    return validate_stack(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks(), st.integers(0, 5), st.booleans())
def test_any_valid_stack_renders_valid_manifests(stack: Stack, replicas: int, pinned: bool) -> None:
    spec = DeploymentSpec(
        deployment_id=uuid.uuid4(),
        name=stack.name,
        namespace="prop",
        stack=stack,
        replicas=replicas,
        placement=Placement(hostname="node-1") if pinned else Placement(),
    )
    manifests = render_deployment(spec)
    validate_all(manifests)
    assert manifests == render_deployment(spec)
    names = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert len(names) == len(set(names))
