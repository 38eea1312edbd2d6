"""The stack schema: valid stacks, every rule with its field path, YAML round trip."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from podwarden.engine.errors import ValidationError
from podwarden.engine.schemas.stacks import (
    EmptyDirVolume,
    PvcVolume,
    S3Volume,
    Stack,
    parse_quantity,
    stack_from_yaml,
    stack_to_yaml,
    validate_stack,
)

MINIMAL: dict[str, Any] = {"name": "web", "image": "nginx"}

FULL: dict[str, Any] = {
    "name": "gitea",
    "description": "Self-hosted git.\nSecond line.",
    "kind": "deployment",
    "version": "3",
    "tags": ["git", "dev tools"],
    "image": "gitea/gitea",
    "image_tag": "1.22.3",
    "registry_url": "registry.example.com:5000",
    "registry_secret": "Registry credentials",
    "command": ["/usr/bin/entrypoint"],
    "args": ["/bin/s6-svscan", "/etc/s6"],
    "ports": [
        {"name": "http", "container_port": 3000},
        {"name": "ssh", "container_port": 22, "protocol": "TCP"},
        {"name": "dns", "container_port": 53, "protocol": "UDP"},
    ],
    "resources": {
        "cpu_request": "250m",
        "cpu_limit": "2",
        "memory_request": "512Mi",
        "memory_limit": "1G",
        "gpu_count": 1,
        "vram_request_mb": 8192,
    },
    "env": [{"name": "USER_UID", "value": "1000"}, {"name": "GITEA__server__ROOT_URL", "value": ""}],
    "env_schema": [
        {"name": "GITEA__security__SECRET_KEY", "generate": True, "secret": True},
        {"name": "DB_PASSWORD", "required": True, "description": "Database password", "secret": True},
        {"name": "LOG_LEVEL", "default_value": "info"},
    ],
    "config_slots": [
        {
            "name": "app-ini",
            "key": "app.ini",
            "mount_path": "/data/gitea/conf/app.ini",
            "file_type": "ini",
            "required": True,
            "description": "Main configuration",
            "default_content": "[server]\nHTTP_PORT = 3000\n",
        }
    ],
    "volumes": [
        {"type": "pvc", "name": "data", "mount_path": "/data", "size": "10Gi", "storage_class": "local-path"},
        {
            "type": "emptyDir",
            "name": "tmp",
            "mount_path": "/tmp/gitea",
            "medium": "Memory",
            "size_limit": "64Mi",
        },
        {
            "type": "hostPath",
            "name": "timezone",
            "mount_path": "/etc/localtime",
            "path": "/etc/localtime",
            "host_path_type": "File",
            "read_only": True,
        },
        {
            "type": "nfs",
            "name": "backups",
            "mount_path": "/backups",
            "storage_connection": "nas",
            "sub_path": "gitea",
        },
        {"type": "s3", "name": "lfs", "storage_connection": "minio", "env_prefix": "LFS_S3_"},
        {"type": "configMap", "name": "ca", "mount_path": "/etc/ssl/extra", "source": "company-ca"},
        {"type": "secret", "name": "tls", "mount_path": "/etc/tls", "source": "gitea-tls"},
    ],
    "node_selector": {"kubernetes.io/arch": "amd64", "podwarden.io/storage": "ssd"},
    "host_network": False,
    "dns_policy": "ClusterFirst",
    "required_network_types": ["lan", "mesh"],
}


def with_changes(base: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base if base is not None else MINIMAL)
    data.update(changes)
    return data


def problems(data: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validate_stack(data)
    errors: dict[str, str] = caught.value.errors
    return errors


# --------------------------------------------------------------------------- #
# Valid stacks
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("kind", ["deployment", "daemonset", "job"])
def test_minimal_stack_of_every_kind(kind: str) -> None:
    stack = validate_stack(with_changes(kind=kind))
    assert stack.kind == kind
    assert stack.image_tag is None
    assert stack.dns_policy == "ClusterFirst"
    assert stack.version == "1"
    assert stack.resources.gpu_count == 0


def test_kind_defaults_to_deployment() -> None:
    assert validate_stack(MINIMAL).kind == "deployment"


def test_job_with_ports_is_allowed() -> None:
    stack = validate_stack(with_changes(kind="job", ports=[{"name": "metrics", "container_port": 9100}]))
    assert stack.ports[0].container_port == 9100
    assert stack.warnings() == []


def test_full_stack_with_every_volume_type() -> None:
    stack = validate_stack(FULL)
    assert [volume.type for volume in stack.volumes] == [
        "pvc",
        "emptyDir",
        "hostPath",
        "nfs",
        "s3",
        "configMap",
        "secret",
    ]
    pvc = stack.volumes[0]
    assert isinstance(pvc, PvcVolume)
    assert pvc.retain_on_undeploy is True
    assert pvc.access_mode == "RWO"
    assert isinstance(stack.volumes[4], S3Volume)
    assert stack.required_network_types == ["mesh", "lan"]
    assert stack.warnings() == []


def test_image_may_name_a_registry_and_nested_path() -> None:
    for image in ["ghcr.io/org/app", "localhost:5000/team/tool", "library/redis", "my.registry/a/b/c-d_e.f"]:
        assert validate_stack(with_changes(image=image)).image == image


def test_image_reference_joins_registry_tag_and_digest() -> None:
    assert validate_stack(MINIMAL).image_reference("stable") == "nginx:stable"
    stack = validate_stack(with_changes(image_tag="1.27", registry_url="reg.local:5000"))
    assert stack.image_reference("stable") == "reg.local:5000/nginx:1.27"
    digest = "sha256:" + "ab" * 32
    assert validate_stack(with_changes(image_tag=digest)).image_reference("x") == f"nginx@{digest}"


def test_friendly_coercions() -> None:
    stack = validate_stack(
        with_changes(
            image_tag=16,
            version=2,
            ports=[{"name": "dns", "container_port": 53, "protocol": "udp"}],
            resources={"cpu_request": 0.5, "memory_limit": 1073741824},
            volumes=[
                {
                    "type": "pvc",
                    "name": "d",
                    "mount_path": "/d/",
                    "size": "1Gi",
                    "access_mode": "ReadWriteMany",
                }
            ],
            env=[{"name": "PORT", "value": 8080}],
            node_selector={"zone": 3},
            tags=["a", "b", "a"],
        )
    )
    assert stack.image_tag == "16"
    assert stack.version == "2"
    assert stack.ports[0].protocol == "UDP"
    assert stack.resources.cpu_request == "0.5"
    assert stack.resources.memory_limit == "1073741824"
    volume = stack.volumes[0]
    assert isinstance(volume, PvcVolume)
    assert volume.access_mode == "RWX"
    assert volume.mount_path == "/d"
    assert stack.env[0].value == "8080"
    assert stack.node_selector == {"zone": "3"}
    assert stack.tags == ["a", "b"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [("/data/", "/data"), ("//var//lib/./x/", "/var/lib/x"), ("/etc/app.conf", "/etc/app.conf")],
)
def test_mount_paths_are_normalised(given: str, expected: str) -> None:
    stack = validate_stack(with_changes(volumes=[{"type": "emptyDir", "name": "v", "mount_path": given}]))
    volume = stack.volumes[0]
    assert isinstance(volume, EmptyDirVolume)
    assert volume.mount_path == expected


def test_instances_pass_through() -> None:
    stack = validate_stack(FULL)
    assert validate_stack(stack) is stack


# --------------------------------------------------------------------------- #
# Field rules: each problem lands on its exact dotted path
# --------------------------------------------------------------------------- #

PORT = {"name": "http", "container_port": 80}
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("name with capitals", {"name": "Web_1"}, "name", "DNS label"),
    ("name too long", {"name": "a" * 64}, "name", "at most 63"),
    ("name missing", {"name": None}, "name", "text"),
    ("image with tag", {"image": "nginx:1.27"}, "image", "put '1.27' in image_tag"),
    ("image with digest", {"image": "nginx@sha256:" + "a" * 64}, "image", "digest"),
    ("image uppercase", {"image": "Nginx"}, "image", "not a valid image name"),
    ("image empty", {"image": ""}, "image", "must not be empty"),
    ("bad tag", {"image_tag": "-latest"}, "image_tag", "must be a tag"),
    ("float tag", {"image_tag": 3.10}, "image_tag", "quote it"),
    ("registry with scheme", {"registry_url": "https://reg.io"}, "registry_url", "without scheme"),
    ("registry with path", {"registry_url": "reg.io/team"}, "registry_url", "host name"),
    ("registry port", {"registry_url": "reg.io:70000"}, "registry_url", "between 1 and 65535"),
    ("registry secret blank", {"registry_secret": "  "}, "registry_secret", "must not be empty"),
    ("command not list", {"command": "nginx -g"}, "command", "expected a list"),
    ("args item not text", {"args": ["-p", 80]}, "args.1", "expected text"),
    ("port name long", {"ports": [{"name": "a-very-long-name", "container_port": 80}]}, "ports.0.name", "15"),
    ("port name digits", {"ports": [{"name": "8080", "container_port": 80}]}, "ports.0.name", "letter"),
    ("port name double dash", {"ports": [{"name": "a--b", "container_port": 80}]}, "ports.0.name", "'--'"),
    ("port zero", {"ports": [{"name": "x", "container_port": 0}]}, "ports.0.container_port", "at least 1"),
    ("port huge", {"ports": [{"name": "x", "container_port": 10**30}]}, "ports.0.container_port", "65535"),
    (
        "port bool",
        {"ports": [{"name": "x", "container_port": True}]},
        "ports.0.container_port",
        "whole number",
    ),
    ("port string", {"ports": [{"name": "x", "container_port": "80"}]}, "ports.0.container_port", "whole"),
    (
        "protocol",
        {"ports": [{"name": "x", "container_port": 1, "protocol": "HTTP"}]},
        "ports.0.protocol",
        "TCP",
    ),
    ("port extra", {"ports": [{**PORT, "host_port": 80}]}, "ports.0.host_port", "unknown field"),
    (
        "cpu syntax",
        {"resources": {"cpu_request": "two"}},
        "resources.cpu_request",
        "not a Kubernetes quantity",
    ),
    ("cpu negative", {"resources": {"cpu_limit": "-1"}}, "resources.cpu_limit", "negative"),
    ("memory unit", {"resources": {"memory_limit": "1GB"}}, "resources.memory_limit", "quantity"),
    ("gpu negative", {"resources": {"gpu_count": -1}}, "resources.gpu_count", "at least 0"),
    ("vram negative", {"resources": {"vram_request_mb": -5}}, "resources.vram_request_mb", "at least 0"),
    ("env name", {"env": [{"name": "1ABC", "value": "x"}]}, "env.0.name", "environment variable name"),
    ("env name with =", {"env": [{"name": "A=B", "value": "x"}]}, "env.0.name", "environment variable name"),
    ("env value bool", {"env": [{"name": "A", "value": True}]}, "env.0.value", "quote it"),
    ("schema name", {"env_schema": [{"name": ""}]}, "env_schema.0.name", "must not be empty"),
    (
        "generate with default",
        {"env_schema": [{"name": "KEY", "generate": True, "default_value": "x"}]},
        "env_schema.0.default_value",
        "generate",
    ),
    (
        "slot name",
        {"config_slots": [{"name": "App Config", "key": "a.yml", "mount_path": "/a.yml"}]},
        "config_slots.0.name",
        "DNS label",
    ),
    (
        "slot key",
        {"config_slots": [{"name": "a", "key": "conf/a.yml", "mount_path": "/a.yml"}]},
        "config_slots.0.key",
        "file name",
    ),
    (
        "slot relative path",
        {"config_slots": [{"name": "a", "key": "a.yml", "mount_path": "etc/a.yml"}]},
        "config_slots.0.mount_path",
        "absolute",
    ),
    (
        "slot file type",
        {"config_slots": [{"name": "a", "key": "a", "mount_path": "/a", "file_type": "docx"}]},
        "config_slots.0.file_type",
        "must be",
    ),
    (
        "mount path with ..",
        {"volumes": [{"type": "emptyDir", "name": "v", "mount_path": "/data/../etc"}]},
        "volumes.0.mount_path",
        "'..'",
    ),
    (
        "mount at root",
        {"volumes": [{"type": "emptyDir", "name": "v", "mount_path": "/"}]},
        "volumes.0.mount_path",
        "root",
    ),
    (
        "volume name",
        {"volumes": [{"type": "emptyDir", "name": "My Vol", "mount_path": "/v"}]},
        "volumes.0.name",
        "DNS label",
    ),
    (
        "pvc size zero",
        {"volumes": [{"type": "pvc", "name": "d", "mount_path": "/d", "size": "0"}]},
        "volumes.0.size",
        "more than zero",
    ),
    (
        "pvc size missing",
        {"volumes": [{"type": "pvc", "name": "d", "mount_path": "/d"}]},
        "volumes.0.size",
        "is required",
    ),
    (
        "pvc access mode",
        {"volumes": [{"type": "pvc", "name": "d", "mount_path": "/d", "size": "1Gi", "access_mode": "RWM"}]},
        "volumes.0.access_mode",
        "RWO",
    ),
    (
        "pvc storage class",
        {
            "volumes": [
                {"type": "pvc", "name": "d", "mount_path": "/d", "size": "1Gi", "storage_class": "Fast SSD"}
            ]
        },
        "volumes.0.storage_class",
        "Kubernetes name",
    ),
    (
        "host path relative",
        {"volumes": [{"type": "hostPath", "name": "h", "mount_path": "/h", "path": "srv/h"}]},
        "volumes.0.path",
        "absolute",
    ),
    (
        "host path type",
        {
            "volumes": [
                {"type": "hostPath", "name": "h", "mount_path": "/h", "path": "/h", "host_path_type": "Dir"}
            ]
        },
        "volumes.0.host_path_type",
        "must be",
    ),
    (
        "nfs without connection",
        {"volumes": [{"type": "nfs", "name": "n", "mount_path": "/n", "storage_connection": ""}]},
        "volumes.0.storage_connection",
        "must not be empty",
    ),
    (
        "nfs sub path escapes",
        {
            "volumes": [
                {
                    "type": "nfs",
                    "name": "n",
                    "mount_path": "/n",
                    "storage_connection": "nas",
                    "sub_path": "../x",
                }
            ]
        },
        "volumes.0.sub_path",
        "'..'",
    ),
    (
        "s3 has no mount",
        {"volumes": [{"type": "s3", "name": "b", "storage_connection": "minio", "mount_path": "/b"}]},
        "volumes.0.mount_path",
        "unknown field",
    ),
    (
        "s3 prefix",
        {"volumes": [{"type": "s3", "name": "b", "storage_connection": "minio", "env_prefix": "3S"}]},
        "volumes.0.env_prefix",
        "prefix",
    ),
    (
        "configMap source",
        {"volumes": [{"type": "configMap", "name": "c", "mount_path": "/c", "source": "Bad_Name"}]},
        "volumes.0.source",
        "Kubernetes name",
    ),
    (
        "volume type unknown",
        {"volumes": [{"type": "iscsi", "name": "x"}]},
        "volumes.0.type",
        "unknown volume type",
    ),
    ("volume type missing", {"volumes": [{"name": "x"}]}, "volumes.0.type", "is required"),
    ("volume not mapping", {"volumes": ["data:/data"]}, "volumes.0", "expected a mapping"),
    ("label key", {"node_selector": {"bad key": "x"}}, "node_selector.bad key", "label key"),
    ("label prefix", {"node_selector": {"Bad_Prefix/x": "y"}}, "node_selector.Bad_Prefix/x", "prefix"),
    ("label value", {"node_selector": {"zone": "a b"}}, "node_selector.zone", "label value"),
    ("host network type", {"host_network": "yes"}, "host_network", "true or false"),
    ("dns policy", {"dns_policy": "ClusterLast"}, "dns_policy", "ClusterFirst"),
    ("network type", {"required_network_types": ["wan"]}, "required_network_types.0", "public"),
    ("tag blank", {"tags": [" "]}, "tags.0", "must not be empty"),
    ("version blank", {"version": ""}, "version", "non-empty"),
    ("unknown field", {"imgae": "nginx"}, "imgae", "did you mean 'image'"),
]


@pytest.mark.parametrize(("label", "change", "path", "fragment"), CASES, ids=[case[0] for case in CASES])
def test_field_rule_names_its_path(label: str, change: dict[str, Any], path: str, fragment: str) -> None:
    errors = problems(with_changes(**change))
    assert path in errors, errors
    assert fragment in errors[path]


def test_missing_image_is_required() -> None:
    assert problems({"name": "web"}) == {"image": "is required"}


# --------------------------------------------------------------------------- #
# Cross-field rules
# --------------------------------------------------------------------------- #


def test_duplicate_port_name() -> None:
    errors = problems(with_changes(ports=[PORT, {"name": "http", "container_port": 81}]))
    assert errors == {"ports.1.name": "duplicate port name 'http' (already used by ports[0])"}


def test_duplicate_port_and_protocol() -> None:
    errors = problems(with_changes(ports=[PORT, {"name": "alt", "container_port": 80, "protocol": "TCP"}]))
    assert errors == {"ports.1.container_port": "duplicate port 80/TCP (already used by ports[0])"}


def test_same_port_with_other_protocol_is_fine() -> None:
    stack = validate_stack(
        with_changes(
            ports=[
                {"name": "dns-tcp", "container_port": 53},
                {"name": "dns", "container_port": 53, "protocol": "UDP"},
            ]
        )
    )
    assert len(stack.ports) == 2


def test_duplicate_env_names_across_env_and_schema() -> None:
    errors = problems(with_changes(env=[{"name": "A", "value": "1"}], env_schema=[{"name": "A"}]))
    assert errors == {"env_schema.0.name": "duplicate environment variable 'A' (already defined at env[0])"}


def test_duplicate_env_names_within_env() -> None:
    errors = problems(with_changes(env=[{"name": "A"}, {"name": "B"}, {"name": "A"}]))
    assert list(errors) == ["env.2.name"]


def test_duplicate_volume_names() -> None:
    volumes = [
        {"type": "emptyDir", "name": "data", "mount_path": "/a"},
        {"type": "pvc", "name": "data", "mount_path": "/b", "size": "1Gi"},
    ]
    errors = problems(with_changes(volumes=volumes))
    assert errors == {"volumes.1.name": "duplicate volume name 'data' (already used by volumes[0])"}


def test_two_volumes_at_the_same_path_even_with_trailing_slash() -> None:
    volumes = [
        {"type": "emptyDir", "name": "a", "mount_path": "/data"},
        {"type": "emptyDir", "name": "b", "mount_path": "/data/"},
    ]
    errors = problems(with_changes(volumes=volumes))
    assert errors == {"volumes.1.mount_path": "mount path '/data' is already used by volumes[0]"}


def test_volume_and_config_slot_at_the_same_path() -> None:
    errors = problems(
        with_changes(
            volumes=[{"type": "emptyDir", "name": "a", "mount_path": "/etc/app.yml"}],
            config_slots=[{"name": "cfg", "key": "app.yml", "mount_path": "/etc/app.yml"}],
        )
    )
    assert errors == {"config_slots.0.mount_path": "mount path '/etc/app.yml' is already used by volumes[0]"}


def test_two_config_slots_with_the_same_file() -> None:
    slots = [
        {"name": "one", "key": "a.conf", "mount_path": "/etc/nginx/nginx.conf"},
        {"name": "two", "key": "b.conf", "mount_path": "/etc/nginx//nginx.conf"},
    ]
    errors = problems(with_changes(config_slots=slots))
    assert errors == {
        "config_slots.1.mount_path": "mount path '/etc/nginx/nginx.conf' is already used by config_slots[0]"
    }


def test_mount_inside_a_config_file() -> None:
    errors = problems(
        with_changes(
            config_slots=[{"name": "cfg", "key": "app", "mount_path": "/etc/app"}],
            volumes=[{"type": "emptyDir", "name": "x", "mount_path": "/etc/app/extra"}],
        )
    )
    assert list(errors) == ["volumes.0.mount_path"]
    assert "inside '/etc/app', the config file mounted by config_slots[0]" in errors["volumes.0.mount_path"]


def test_nested_volume_mounts_are_fine() -> None:
    volumes = [
        {"type": "pvc", "name": "data", "mount_path": "/data", "size": "1Gi"},
        {"type": "emptyDir", "name": "cache", "mount_path": "/data/cache"},
    ]
    assert len(validate_stack(with_changes(volumes=volumes)).volumes) == 2


def test_duplicate_config_slot_names() -> None:
    slots = [
        {"name": "cfg", "key": "a", "mount_path": "/a"},
        {"name": "cfg", "key": "b", "mount_path": "/b"},
    ]
    errors = problems(with_changes(config_slots=slots))
    assert errors == {
        "config_slots.1.name": "duplicate config slot name 'cfg' (already used by config_slots[0])"
    }


def test_duplicate_s3_prefixes() -> None:
    volumes = [
        {"type": "s3", "name": "a", "storage_connection": "minio"},
        {"type": "s3", "name": "b", "storage_connection": "minio"},
    ]
    assert list(problems(with_changes(volumes=volumes))) == ["volumes.1.env_prefix"]


@pytest.mark.parametrize(
    ("resources", "path"),
    [
        ({"cpu_request": "2", "cpu_limit": "500m"}, "resources.cpu_request"),
        ({"memory_request": "1Gi", "memory_limit": "1000Mi"}, "resources.memory_request"),
        ({"memory_request": "1.5G", "memory_limit": "1Gi"}, "resources.memory_request"),
    ],
)
def test_request_above_limit(resources: dict[str, str], path: str) -> None:
    errors = problems(with_changes(resources=resources))
    assert list(errors) == [path]
    assert "is more than" in errors[path]


@pytest.mark.parametrize(
    "resources",
    [
        {"cpu_request": "500m", "cpu_limit": "0.5"},
        {"cpu_request": "100m", "cpu_limit": "1"},
        {"memory_request": "1G", "memory_limit": "1Gi"},
        {"memory_request": "1e9", "memory_limit": "1G"},
        {"memory_request": "512Mi"},
    ],
)
def test_request_within_limit(resources: dict[str, str]) -> None:
    validate_stack(with_changes(resources=resources))


def test_all_cross_field_problems_are_reported_together() -> None:
    data = with_changes(
        ports=[PORT, PORT],
        env=[{"name": "A"}, {"name": "A"}],
        resources={"cpu_request": "2", "cpu_limit": "1"},
    )
    with pytest.raises(ValidationError) as caught:
        validate_stack(data)
    error = caught.value
    assert set(error.errors) == {
        "ports.1.name",
        "ports.1.container_port",
        "env.1.name",
        "resources.cpu_request",
    }
    assert error.message.startswith("Stack is invalid: 4 problems — ")
    assert "ports[1].name: duplicate port name" in error.message
    assert "\n" not in error.message


def test_summary_of_one_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_stack(with_changes(ports=[{"name": "http", "container_port": 0}]))
    assert caught.value.message == "Stack is invalid: 1 problem — ports[0].container_port: must be at least 1"
    assert caught.value.errors == {"ports.0.container_port": "must be at least 1"}


@pytest.mark.parametrize("data", [None, [], "web", 42, 3.5, True, b"x", {"name": object(), "image": "x"}])
def test_non_mappings_give_our_error(data: object) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_stack(data)
    assert caught.value.message.startswith("Stack is invalid: ")


def test_non_mapping_error_is_on_the_root() -> None:
    assert problems([1, 2]) == {"": "expected a mapping of stack fields, got list"}


# --------------------------------------------------------------------------- #
# Warnings
# --------------------------------------------------------------------------- #


def test_host_network_with_cluster_first_warns() -> None:
    stack = validate_stack(with_changes(host_network=True))
    assert len(stack.warnings()) == 1
    assert "ClusterFirstWithHostNet" in stack.warnings()[0]
    fixed = validate_stack(with_changes(host_network=True, dns_policy="ClusterFirstWithHostNet"))
    assert fixed.warnings() == []


def test_other_warnings() -> None:
    stack = validate_stack(
        with_changes(
            kind="daemonset",
            image="ghcr.io/org/app",
            registry_url="reg.local",
            resources={"memory_limit": "512m", "vram_request_mb": 4096},
            env_schema=[{"name": "TOKEN", "generate": True}],
            volumes=[{"type": "pvc", "name": "d", "mount_path": "/d", "size": "1Gi"}],
        )
    )
    text = "\n".join(stack.warnings())
    assert "'512Mi'" in text
    assert "gpu_count is 0" in text
    assert "TOKEN is generated but not secret" in text
    assert "already names a registry" in text
    assert "daemonset" in text


# --------------------------------------------------------------------------- #
# Quantities
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", Decimal("0.25")),
        ("1.5", Decimal("1.5")),
        ("512Mi", Decimal(512 * 1024**2)),
        ("1G", Decimal(10**9)),
        ("1Gi", Decimal(1024**3)),
        ("2Ki", Decimal(2048)),
        ("1e3", Decimal(1000)),
        ("1E", Decimal(10**18)),
        ("1.5e-3", Decimal("0.0015")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("+3k", Decimal(3000)),
        ("-1", Decimal(-1)),
        ("0", Decimal(0)),
    ],
)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "1GB", "1 Gi", "Mi", "1.2.3", "1e", "1ki", "0x10", "1_000", "1" * 65, "1e99999"]
)
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"quantity|range|characters"):
        parse_quantity(text)


# --------------------------------------------------------------------------- #
# YAML
# --------------------------------------------------------------------------- #


def test_yaml_round_trip_of_a_full_stack() -> None:
    stack = validate_stack(FULL)
    text = stack_to_yaml(stack)
    assert stack_from_yaml(text) == stack
    assert stack_to_yaml(stack_from_yaml(text)) == text


def test_yaml_is_readable_and_omits_defaults() -> None:
    text = stack_to_yaml(validate_stack(with_changes(image_tag="1.27", ports=[PORT])))
    assert text == (
        "name: web\n"
        "kind: deployment\n"
        "image: nginx\n"
        "image_tag: '1.27'\n"
        "ports:\n"
        "  - name: http\n"
        "    container_port: 80\n"
    )


def test_yaml_key_order_follows_the_model() -> None:
    text = stack_to_yaml(validate_stack(FULL))
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")]
    assert keys == [
        "name",
        "description",
        "kind",
        "version",
        "tags",
        "image",
        "image_tag",
        "registry_url",
        "registry_secret",
        "command",
        "args",
        "ports",
        "resources",
        "env",
        "env_schema",
        "config_slots",
        "volumes",
        "node_selector",
        "required_network_types",
    ]
    assert "default_content: |\n" in text
    assert "    type: pvc\n" not in text  # the discriminator comes first in each volume
    assert "  - type: pvc\n    name: data\n" in text


def test_yaml_keeps_values_that_look_like_other_types() -> None:
    stack = validate_stack(
        with_changes(
            version="1.0",
            env=[
                {"name": "A", "value": "true"},
                {"name": "B", "value": "null"},
                {"name": "C", "value": "0755"},
            ],
            args=["yes", "~", "1e3", "- x", "a: b", "#c"],
            description="  leading spaces\nand\ttabs\n\n",
        )
    )
    assert stack_from_yaml(stack_to_yaml(stack)) == stack


def test_yaml_with_retain_false_and_non_default_values_round_trips() -> None:
    data = with_changes(
        volumes=[
            {"type": "pvc", "name": "d", "mount_path": "/d", "size": "1Gi", "retain_on_undeploy": False}
        ],
        env_schema=[{"name": "X", "default_value": ""}],
    )
    stack = validate_stack(data)
    text = stack_to_yaml(stack)
    assert "retain_on_undeploy: false" in text
    assert "default_value: ''" in text
    assert stack_from_yaml(text) == stack


def test_yaml_syntax_error_names_line_and_column() -> None:
    text = "name: web\nimage: nginx\nports:\n  - name: http\n   container_port: 80\n"
    with pytest.raises(ValidationError) as caught:
        stack_from_yaml(text)
    assert caught.value.message.startswith("Stack YAML is not valid: line 5, column ")
    assert caught.value.errors[""].startswith("line 5, column ")


def test_yaml_unclosed_bracket() -> None:
    with pytest.raises(ValidationError, match=r"line \d+, column \d+"):
        stack_from_yaml("name: web\nargs: [a, b\n")


def test_yaml_that_is_not_a_mapping() -> None:
    with pytest.raises(ValidationError) as caught:
        stack_from_yaml("- name: web\n")
    assert caught.value.errors == {"": "expected a mapping of stack fields, got list"}


def test_yaml_validation_problems_keep_paths() -> None:
    with pytest.raises(ValidationError) as caught:
        stack_from_yaml("name: web\nimage: nginx\nports:\n  - name: http\n    container_port: 99999\n")
    assert list(caught.value.errors) == ["ports.0.container_port"]


def test_yaml_does_not_construct_python_objects() -> None:
    with pytest.raises(ValidationError, match="not valid"):
        stack_from_yaml("name: !!python/object/apply:os.system ['true']\nimage: nginx\n")


def test_yaml_invalid_date_is_our_error() -> None:
    with pytest.raises(ValidationError):
        stack_from_yaml("name: web\nimage: nginx\nversion: 2024-02-30\n")


def test_yaml_alias_bomb_is_refused() -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for index in range(1, 9):
        previous = "a" if index == 1 else f"a{index - 1}"
        lines.append(f"a{index}: &a{index} [" + ", ".join([f"*{previous}"] * 10) + "]")
    with pytest.raises(ValidationError, match="too large"):
        stack_from_yaml("\n".join(lines) + "\n")


def test_model_construction_error_is_readable() -> None:
    with pytest.raises(Exception, match="duplicate port name"):
        Stack.model_validate(with_changes(ports=[PORT, PORT]))
