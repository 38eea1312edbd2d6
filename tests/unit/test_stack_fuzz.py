"""Property tests: whatever comes in, validate_stack and stack_from_yaml raise only our ValidationError."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podwarden.engine.errors import ValidationError
from podwarden.engine.schemas.stacks import Stack, stack_from_yaml, stack_to_yaml, validate_stack

FIELD_NAMES = [
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
    "container_port",
    "protocol",
    "resources",
    "cpu_request",
    "cpu_limit",
    "memory_request",
    "memory_limit",
    "gpu_count",
    "vram_request_mb",
    "env",
    "value",
    "env_schema",
    "required",
    "default_value",
    "generate",
    "secret",
    "config_slots",
    "key",
    "mount_path",
    "file_type",
    "default_content",
    "volumes",
    "type",
    "medium",
    "size_limit",
    "path",
    "host_path_type",
    "size",
    "access_mode",
    "storage_class",
    "retain_on_undeploy",
    "claim_name",
    "storage_connection",
    "sub_path",
    "read_only",
    "env_prefix",
    "source",
    "node_selector",
    "host_network",
    "dns_policy",
    "required_network_types",
]

INTERESTING_TEXT = st.sampled_from(
    [
        "",
        " ",
        "web",
        "pvc",
        "emptyDir",
        "hostPath",
        "nfs",
        "s3",
        "configMap",
        "secret",
        "TCP",
        "udp",
        "250m",
        "1Gi",
        "-1",
        "1e999999999",
        "9" * 5000,
        "/data",
        "/data/",
        "/",
        "../x",
        "nginx:1.2",
        "ghcr.io/org/app",
        "ClusterFirst",
        "RWX",
        "ReadWriteOnce",
        "mesh",
        "é\u200b\U0001f600",
        "\x00",
        "a\nb",
        "{{namespace}}",
        "${VAR}",
        "[key]",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | INTERESTING_TEXT
)
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=10)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(KEYS, children, max_size=6)
        | st.tuples(children, children)
    ),
    max_leaves=30,
)

VALID: dict[str, Any] = {
    "name": "gitea",
    "description": "Git service",
    "kind": "deployment",
    "tags": ["git"],
    "image": "gitea/gitea",
    "image_tag": "1.22",
    "command": ["/entrypoint"],
    "args": ["web"],
    "ports": [
        {"name": "http", "container_port": 3000},
        {"name": "dns", "container_port": 53, "protocol": "UDP"},
    ],
    "resources": {"cpu_request": "250m", "cpu_limit": "1", "memory_request": "256Mi", "memory_limit": "1Gi"},
    "env": [{"name": "USER_UID", "value": "1000"}],
    "env_schema": [
        {"name": "SECRET", "generate": True, "secret": True},
        {"name": "LEVEL", "default_value": "info"},
    ],
    "config_slots": [
        {"name": "app", "key": "app.ini", "mount_path": "/etc/gitea/app.ini", "default_content": "a\n"}
    ],
    "volumes": [
        {"type": "pvc", "name": "data", "mount_path": "/data", "size": "5Gi"},
        {"type": "emptyDir", "name": "tmp", "mount_path": "/tmp/x"},
        {"type": "hostPath", "name": "tz", "mount_path": "/etc/localtime", "path": "/etc/localtime"},
        {"type": "nfs", "name": "nas", "mount_path": "/nas", "storage_connection": "nas"},
        {"type": "s3", "name": "lfs", "storage_connection": "minio"},
        {"type": "configMap", "name": "ca", "mount_path": "/ca", "source": "ca"},
        {"type": "secret", "name": "tls", "mount_path": "/tls", "source": "tls"},
    ],
    "node_selector": {"kubernetes.io/arch": "amd64"},
    "host_network": False,
    "dns_policy": "ClusterFirst",
    "required_network_types": ["lan"],
    "version": "2",
}


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every dict and list inside ``value`` (including the root)."""
    found = [path]
    items: Any = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, item in items:
        if isinstance(item, dict | list):
            found += _containers(item, (*path, key))
    return found


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@st.composite
def mutated_stacks(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _containers(data)
        target = _at(data, draw(st.sampled_from(paths)))
        operation = draw(st.sampled_from(["set", "delete", "add", "swap"]))
        if isinstance(target, dict):
            keys = list(target)
            if operation == "delete" and keys:
                del target[draw(st.sampled_from(keys))]
            elif operation == "add" or not keys:
                target[draw(KEYS)] = draw(JSON_LIKE)
            elif operation == "swap" and len(keys) > 1:
                first, second = draw(st.sampled_from(keys)), draw(st.sampled_from(keys))
                target[first], target[second] = target[second], target[first]
            else:
                target[draw(st.sampled_from(keys))] = draw(JSON_LIKE)
        elif isinstance(target, list):
            if operation == "delete" and target:
                target.pop(draw(st.integers(min_value=0, max_value=len(target) - 1)))
            elif operation == "add" or not target:
                target.append(draw(JSON_LIKE))
            elif operation == "swap":
                target.append(copy.deepcopy(draw(st.sampled_from(target))))  # duplicates
            else:
                target[draw(st.integers(min_value=0, max_value=len(target) - 1))] = draw(JSON_LIKE)
    return data


def _check(call: Any, argument: Any) -> Stack | None:
    try:
        result = call(argument)
    except ValidationError as exc:
        assert exc.message
        assert "\n" not in exc.message
        assert all(isinstance(key, str) and isinstance(value, str) for key, value in exc.errors.items())
        return None
    assert isinstance(result, Stack)
    return result


def test_the_base_document_is_valid() -> None:
    assert validate_stack(VALID).name == "gitea"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_LIKE)
def test_validate_stack_on_arbitrary_values(value: Any) -> None:
    _check(validate_stack, value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_stacks())
def test_validate_stack_on_mutated_stacks(value: Any) -> None:
    stack = _check(validate_stack, value)
    if stack is not None:  # whatever validates survives the YAML round trip
        assert stack_from_yaml(stack_to_yaml(stack)) == stack


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_stack_from_yaml_on_arbitrary_text(text: str) -> None:
    _check(stack_from_yaml, text)


def _dump(value: Any) -> str:
    try:
        return str(yaml.safe_dump(value, allow_unicode=True, sort_keys=False))
    except yaml.YAMLError:  # tuples and such cannot be represented: use their text
        return repr(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_stacks(), st.integers(min_value=0, max_value=2000), st.text(max_size=3))
def test_stack_from_yaml_on_mutated_documents(value: Any, position: int, noise: str) -> None:
    text = _dump(value)
    _check(stack_from_yaml, text)
    cut = position % (len(text) + 1)
    _check(stack_from_yaml, text[:cut] + noise + text[cut:])
