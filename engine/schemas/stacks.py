"""Stacks: reusable workload definitions, validated.

A *stack* describes one container workload (a Deployment, DaemonSet or Job) that
PodWarden can deploy onto any cluster of the fleet. This module holds:

* the pydantic v2 models (:class:`Stack` and its parts), strict: unknown keys are
  rejected, integers must be integers, booleans must be booleans;
* :func:`validate_stack`, the one door for untrusted input: it turns every
  problem into :class:`podwarden.engine.errors.ValidationError` whose ``errors``
  map dotted field paths (``"ports.1.container_port"``; ``""`` is the whole
  document) to messages, and never raises anything else;
* :meth:`Stack.warnings`, allowed-but-suspicious settings (``host_network`` with
  ``ClusterFirst`` DNS, ``512m`` of memory…);
* :func:`stack_to_yaml` / :func:`stack_from_yaml`, a readable YAML form that
  round-trips exactly;
* :func:`parse_quantity`, a Decimal based parser of Kubernetes quantities.

Conventions the renderer relies on (design decisions):

* ``image`` is the repository without tag; ``image_tag`` is a tag (``"16"``) or a
  digest (``"sha256:…"``); ``None`` means "the fleet's default tag".
  :meth:`Stack.image_reference` joins them.
* Environment values may use Kubernetes dependent-variable syntax ``$(NAME)``; a
  renderer must emit the ``env_schema`` variables *before* the fixed ``env`` so
  that such references resolve. ``$$(`` is a literal ``$(``.
* Values may contain :data:`NAMESPACE_PLACEHOLDER` (``{{namespace}}``), replaced
  at deploy time with the target namespace (the compose importer writes service
  references as ``db.{{namespace}}.svc.cluster.local``).
* YAML reads ``image_tag: 16`` or ``version: 2`` as numbers: integers are taken
  as their text, floats are refused (``3.10`` would become ``3.1``).
* A config slot's ``mount_path`` is the full path of the file inside the container
  (mounted from a ConfigMap with ``subPath: <key>``); ``key`` is the ConfigMap key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import Annotated, Any, Literal, NoReturn

import pydantic
import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from podwarden.engine.errors import ValidationError

__all__ = [
    "NAMESPACE_PLACEHOLDER",
    "VOLUME_TYPES",
    "ConfigMapVolume",
    "ConfigSlot",
    "EmptyDirVolume",
    "EnvVar",
    "EnvVarSpec",
    "HostPathVolume",
    "NfsVolume",
    "Port",
    "PvcVolume",
    "Resources",
    "S3Volume",
    "SecretVolume",
    "Stack",
    "Volume",
    "check_document_size",
    "load_yaml_document",
    "normalise_dns_label",
    "parse_quantity",
    "problems_to_error",
    "stack_from_yaml",
    "stack_to_yaml",
    "validate_stack",
]

#: Replaced with the target namespace when a stack is deployed.
NAMESPACE_PLACEHOLDER = "{{namespace}}"

#: Largest YAML text (characters) and object tree (nodes) we agree to look at.
MAX_YAML_CHARS = 2_000_000
MAX_DOCUMENT_NODES = 200_000

# --------------------------------------------------------------------------- #
# Small validators
# --------------------------------------------------------------------------- #

_RULE_ERROR = "podwarden_rules"


def _fail(reason: str) -> NoReturn:
    """Raise a pydantic error whose message is exactly ``reason`` (no prefix)."""
    raise PydanticCustomError("podwarden", "{reason}", {"reason": reason})


def _raise_problems(problems: list[tuple[str, str]]) -> None:
    """Raise one error carrying several ``(relative dotted path, message)`` problems.

    :func:`validate_stack` expands them so that each lands on its own field path.
    """
    if problems:
        summary = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        raise PydanticCustomError(_RULE_ERROR, "{summary}", {"summary": summary, "problems": tuple(problems)})


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_ENV_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_PORT_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:.]+\])"
_REGISTRY = re.compile(rf"(?P<host>{_HOST})(?::(?P<port>[0-9]{{1,5}}))?")
_IMAGE = re.compile(rf"(?:{_HOST}(?::[0-9]{{1,5}})?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")


def _no_control(value: str, what: str = "value") -> None:
    if _CONTROL.search(value):
        _fail(f"{what} must not contain control characters")


def _check_dns_label(value: str) -> str:
    if not value:
        _fail("must not be empty")
    if len(value) > 63:
        _fail("must be at most 63 characters (a DNS label)")
    if not _DNS_LABEL.fullmatch(value):
        _fail(
            f"{_short(value)!r} is not a DNS label: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _check_dns_subdomain(value: str) -> str:
    if not value:
        _fail("must not be empty")
    if len(value) > 253:
        _fail("must be at most 253 characters")
    if not _DNS_SUBDOMAIN.fullmatch(value):
        _fail(f"{_short(value)!r} is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.'")
    return value


def _check_ref_name(value: str) -> str:
    """Names of things stored in PodWarden (secrets, storage connections)."""
    if not value.strip():
        _fail("must not be empty")
    if value != value.strip():
        _fail("must not start or end with spaces")
    if len(value) > 253:
        _fail("must be at most 253 characters")
    _no_control(value, "name")
    return value


def _check_env_name(value: str) -> str:
    if not value:
        _fail("must not be empty")
    if len(value) > 256:
        _fail("must be at most 256 characters")
    if not _ENV_NAME.fullmatch(value):
        _fail(
            f"{_short(value)!r} is not a valid environment variable name: use letters, digits, '_', "
            "'.' and '-', not starting with a digit"
        )
    return value


def _check_env_prefix(value: str) -> str:
    if not value or len(value) > 64 or not _ENV_PREFIX.fullmatch(value):
        _fail("must be an environment variable prefix such as 'S3_' (letters, digits, '_')")
    return value


def _check_port_name(value: str) -> str:
    if not value:
        _fail("must not be empty")
    if len(value) > 15:
        _fail("must be at most 15 characters (IANA service name)")
    if not _PORT_NAME.fullmatch(value):
        _fail("must use lowercase letters, digits and '-', starting and ending with a letter or digit")
    if "--" in value:
        _fail("must not contain '--'")
    if not re.search(r"[a-z]", value):
        _fail("must contain at least one letter")
    return value


def _check_config_key(value: str) -> str:
    if not value or len(value) > 253 or not _CONFIG_KEY.fullmatch(value) or value in {".", ".."}:
        _fail("must be a file name: letters, digits, '-', '_' and '.' (at most 253 characters)")
    return value


def _normalise_path_parts(value: str) -> list[str]:
    _no_control(value, "path")
    if len(value) > 4096:
        _fail("path must be at most 4096 characters")
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        _fail("path must not contain '..'")
    return parts


def _check_mount_path(value: str) -> str:
    if not value.startswith("/"):
        _fail("must be an absolute path (starting with '/')")
    parts = _normalise_path_parts(value)
    if not parts:
        _fail("must not be the root directory '/'")
    return "/" + "/".join(parts)


def _check_host_path(value: str) -> str:
    if not value.startswith("/"):
        _fail("must be an absolute path on the node (starting with '/')")
    return "/" + "/".join(_normalise_path_parts(value))


def _check_sub_path(value: str) -> str:
    if value.startswith("/"):
        _fail("must be a relative path inside the share (no leading '/')")
    parts = _normalise_path_parts(value)
    if not parts:
        _fail("must not be empty")
    return "/".join(parts)


def _check_image(value: str) -> str:
    if not value:
        _fail("must not be empty")
    if len(value) > 255:
        _fail("must be at most 255 characters")
    if "@" in value:
        _fail("must not contain a digest; put it in image_tag (e.g. 'sha256:…')")
    last = value.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.split(":", 1)[1]
        _fail(f"must not contain a tag; put {_short(tag)!r} in image_tag")
    if not _IMAGE.fullmatch(value):
        _fail(
            f"{_short(value)!r} is not a valid image name (lowercase path such as 'postgres', "
            "'library/redis' or 'ghcr.io/org/app')"
        )
    return value


def _check_image_tag(value: str) -> str:
    if _TAG.fullmatch(value) or _DIGEST.fullmatch(value):
        return value
    _fail(
        "must be a tag (letters, digits, '_', '.', '-'; at most 128, not starting with '.' or '-') "
        "or a digest such as 'sha256:…'"
    )


def _check_registry(value: str) -> str:
    if "://" in value:
        _fail("must be a host[:port] without scheme (e.g. 'registry.example.com:5000')")
    match = _REGISTRY.fullmatch(value)
    if len(value) > 255 or match is None:
        _fail("must be a host name or address with an optional port (e.g. 'registry.example.com:5000')")
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        _fail("port must be between 1 and 65535")
    return value


def _check_label_key(value: str) -> str:
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        _fail(f"label key {_short(value)!r}: the prefix must be a DNS subdomain (e.g. 'kubernetes.io')")
    if not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        _fail(
            f"label key {_short(value)!r}: the name must be 1–63 characters of letters, digits, "
            "'-', '_', '.', starting and ending with a letter or digit"
        )
    return value


def _check_label_value(value: str) -> str:
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        _fail(
            "label value must be empty or 1–63 characters of letters, digits, '-', '_', '.', "
            "starting and ending with a letter or digit"
        )
    return value


def _check_tag(value: str) -> str:
    if not value.strip():
        _fail("tags must not be empty")
    if value != value.strip():
        _fail("tags must not start or end with spaces")
    if len(value) > 64:
        _fail("tags must be at most 64 characters")
    _no_control(value, "tag")
    return value


def _check_version(value: str) -> str:
    if not value.strip() or value != value.strip() or len(value) > 64:
        _fail("must be a non-empty version string of at most 64 characters without surrounding spaces")
    _no_control(value, "version")
    return value


def _int_to_str(value: object) -> object:
    """YAML reads ``16`` as a number; a tag, a version or an env value wants text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):
        _fail('must be text; quote it (e.g. "true")')
    if isinstance(value, float):
        _fail('must be text; quote it so that digits are kept exactly (e.g. "3.10")')
    return value


def _number_to_str(value: object) -> object:
    """Quantities may be written as bare numbers (``cpu_request: 0.5``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


_ACCESS_MODES = {
    "readwriteonce": "RWO",
    "readonlymany": "ROX",
    "readwritemany": "RWX",
    "readwriteoncepod": "RWOP",
}


def _access_mode(value: object) -> object:
    if isinstance(value, str):
        return _ACCESS_MODES.get(value.lower(), value)
    return value


# --------------------------------------------------------------------------- #
# Kubernetes quantities
# --------------------------------------------------------------------------- #

_QUANTITY = re.compile(
    r"(?P<sign>[+-])?(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?[0-9]+)?"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY_CONTEXT = Context(prec=400, Emax=10_000, Emin=-10_000)


def parse_quantity(text: str) -> Decimal:
    """Parse a Kubernetes quantity (``"250m"``, ``"1.5"``, ``"512Mi"``, ``"1e3"``) exactly.

    Raises :class:`ValueError` with a readable reason when the text is not a quantity.
    """
    if not isinstance(text, str):
        raise ValueError("a quantity must be text")
    if len(text) > 64:
        raise ValueError("a quantity must be at most 64 characters")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{_short(text)!r} is not a Kubernetes quantity (e.g. '250m', '1.5', '512Mi', '1G', '2Gi')"
        )
    suffix = match.group("suffix") or ""
    try:
        with localcontext(_QUANTITY_CONTEXT):
            number = Decimal(match.group("number"))
            if suffix in _BINARY:
                number *= Decimal(1024) ** _BINARY[suffix]
            elif suffix in _DECIMAL:
                number = number.scaleb(_DECIMAL[suffix])
            else:
                exponent = int(suffix[1:])
                if abs(exponent) > 1000:
                    raise ValueError(f"{_short(text)!r}: the exponent is out of range")
                number = number.scaleb(exponent)
    except (InvalidOperation, ArithmeticError) as exc:
        raise ValueError(f"{_short(text)!r}: the quantity is out of range") from exc
    return -number if match.group("sign") == "-" else number


def _check_quantity(value: str) -> str:
    try:
        amount = parse_quantity(value)
    except ValueError as exc:
        _fail(str(exc))
    if amount < 0:
        _fail("must not be negative")
    return value


def _check_positive_quantity(value: str) -> str:
    _check_quantity(value)
    if parse_quantity(value) == 0:
        _fail("must be more than zero")
    return value


# --------------------------------------------------------------------------- #
# Field types
# --------------------------------------------------------------------------- #

DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(_check_dns_subdomain)]
RefName = Annotated[str, AfterValidator(_check_ref_name)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
MountPath = Annotated[str, AfterValidator(_check_mount_path)]
Quantity = Annotated[str, BeforeValidator(_number_to_str), AfterValidator(_check_quantity)]
PositiveQuantity = Annotated[str, BeforeValidator(_number_to_str), AfterValidator(_check_positive_quantity)]
Text = Annotated[str, BeforeValidator(_int_to_str)]
NetworkType = Literal["public", "mesh", "lan"]
FileType = Literal[
    "text",
    "yaml",
    "json",
    "toml",
    "ini",
    "env",
    "xml",
    "conf",
    "properties",
    "shell",
    "python",
    "lua",
    "javascript",
    "sql",
    "nginx",
    "caddyfile",
    "hcl",
    "markdown",
    "html",
    "css",
    "csv",
]
_NETWORK_ORDER: tuple[NetworkType, ...] = ("public", "mesh", "lan")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --------------------------------------------------------------------------- #
# Parts of a stack
# --------------------------------------------------------------------------- #


class Port(_Model):
    """A container port; ``name`` doubles as the Service port name."""

    name: Annotated[str, AfterValidator(_check_port_name)]
    container_port: int = Field(ge=1, le=65535)
    protocol: Annotated[Literal["TCP", "UDP", "SCTP"], BeforeValidator(_upper)] = "TCP"


class Resources(_Model):
    """Requests and limits. GPUs become ``nvidia.com/gpu`` limits."""

    cpu_request: Quantity | None = None
    cpu_limit: Quantity | None = None
    memory_request: Quantity | None = None
    memory_limit: Quantity | None = None
    gpu_count: int = Field(default=0, ge=0, le=1024)
    vram_request_mb: int | None = Field(default=None, ge=0)


class EnvVar(_Model):
    """A fixed environment variable."""

    name: EnvName
    value: Text = ""


class EnvVarSpec(_Model):
    """An environment variable whose value is chosen when deploying.

    ``generate`` fills a random secret at deploy time; ``secret`` stores the
    value in a Kubernetes Secret instead of the pod spec.
    """

    name: EnvName
    required: bool = False
    default_value: Text | None = None
    description: str = ""
    generate: bool = False
    secret: bool = False


class ConfigSlot(_Model):
    """A config file the operator edits per deployment (one ConfigMap, mounted with subPath)."""

    name: DnsLabel
    key: Annotated[str, AfterValidator(_check_config_key)]
    mount_path: MountPath
    file_type: FileType = "text"
    required: bool = False
    description: str = ""
    default_content: str | None = None


class EmptyDirVolume(_Model):
    type: Literal["emptyDir"] = "emptyDir"
    name: DnsLabel
    mount_path: MountPath
    medium: Literal["Memory", "HugePages"] | None = None
    size_limit: PositiveQuantity | None = None


class HostPathVolume(_Model):
    type: Literal["hostPath"] = "hostPath"
    name: DnsLabel
    mount_path: MountPath
    path: Annotated[str, AfterValidator(_check_host_path)]
    host_path_type: Literal[
        "",
        "DirectoryOrCreate",
        "Directory",
        "FileOrCreate",
        "File",
        "Socket",
        "CharDevice",
        "BlockDevice",
    ] = "DirectoryOrCreate"
    read_only: bool = False


class PvcVolume(_Model):
    """A PersistentVolumeClaim. ``claim_name`` names a shared/existing claim; by
    default the renderer derives the claim name from the deployment."""

    type: Literal["pvc"] = "pvc"
    name: DnsLabel
    mount_path: MountPath
    size: PositiveQuantity
    access_mode: Annotated[Literal["RWO", "ROX", "RWX", "RWOP"], BeforeValidator(_access_mode)] = "RWO"
    storage_class: DnsSubdomain | None = None
    retain_on_undeploy: bool = True
    claim_name: DnsSubdomain | None = None
    read_only: bool = False


class NfsVolume(_Model):
    type: Literal["nfs"] = "nfs"
    name: DnsLabel
    mount_path: MountPath
    storage_connection: RefName
    sub_path: Annotated[str, AfterValidator(_check_sub_path)] | None = None
    read_only: bool = False


class S3Volume(_Model):
    """Not a mount: injects ``<env_prefix>…`` variables describing the bucket."""

    type: Literal["s3"] = "s3"
    name: DnsLabel
    storage_connection: RefName
    env_prefix: Annotated[str, AfterValidator(_check_env_prefix)] = "S3_"


class ConfigMapVolume(_Model):
    type: Literal["configMap"] = "configMap"
    name: DnsLabel
    mount_path: MountPath
    source: DnsSubdomain


class SecretVolume(_Model):
    type: Literal["secret"] = "secret"
    name: DnsLabel
    mount_path: MountPath
    source: DnsSubdomain


Volume = Annotated[
    EmptyDirVolume | HostPathVolume | PvcVolume | NfsVolume | S3Volume | ConfigMapVolume | SecretVolume,
    Field(discriminator="type"),
]
VOLUME_TYPES: tuple[str, ...] = ("emptyDir", "hostPath", "pvc", "nfs", "s3", "configMap", "secret")


def _unique_networks(value: object) -> object:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        seen = set(value)
        known = [item for item in _NETWORK_ORDER if item in seen]
        return known + [item for item in dict.fromkeys(value) if item not in _NETWORK_ORDER]
    return value


def _unique_tags(value: object) -> object:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(dict.fromkeys(value))
    return value


# --------------------------------------------------------------------------- #
# The stack
# --------------------------------------------------------------------------- #


class Stack(_Model):
    """A workload definition. Field order is the order of the YAML form."""

    name: DnsLabel
    description: str = ""
    kind: Literal["deployment", "daemonset", "job"] = "deployment"
    version: Annotated[str, BeforeValidator(_int_to_str), AfterValidator(_check_version)] = "1"
    tags: Annotated[list[Annotated[str, AfterValidator(_check_tag)]], BeforeValidator(_unique_tags)] = Field(
        default_factory=list
    )
    image: Annotated[str, AfterValidator(_check_image)]
    image_tag: Annotated[str, BeforeValidator(_int_to_str), AfterValidator(_check_image_tag)] | None = None
    registry_url: Annotated[str, AfterValidator(_check_registry)] | None = None
    registry_secret: RefName | None = None
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    ports: list[Port] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    env: list[EnvVar] = Field(default_factory=list)
    env_schema: list[EnvVarSpec] = Field(default_factory=list)
    config_slots: list[ConfigSlot] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    node_selector: dict[
        Annotated[str, AfterValidator(_check_label_key)],
        Annotated[str, BeforeValidator(_int_to_str), AfterValidator(_check_label_value)],
    ] = Field(default_factory=dict)
    host_network: bool = False
    dns_policy: Literal["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"] = "ClusterFirst"
    required_network_types: Annotated[list[NetworkType], BeforeValidator(_unique_networks)] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Stack:
        _raise_problems(list(_cross_field_problems(self)))
        return self

    def image_reference(self, default_tag: str) -> str:
        """The full image reference, e.g. ``registry:5000/app:1.2`` or ``app@sha256:…``."""
        tag = self.image_tag or default_tag
        base = f"{self.registry_url}/{self.image}" if self.registry_url else self.image
        return f"{base}@{tag}" if _DIGEST.fullmatch(tag) else f"{base}:{tag}"

    def warnings(self) -> list[str]:
        """Things that are allowed but probably not what the author wants."""
        found: list[str] = []
        if self.host_network and self.dns_policy == "ClusterFirst":
            found.append(
                "dns_policy: with host_network on, ClusterFirst falls back to the node's DNS and cluster "
                "services do not resolve; use ClusterFirstWithHostNet"
            )
        if self.dns_policy == "None":
            found.append(
                "dns_policy: None needs a dnsConfig, which stacks do not set; Kubernetes will reject the pod"
            )
        for field in ("memory_request", "memory_limit"):
            value: str | None = getattr(self.resources, field)
            if value is not None and value.endswith("m"):
                found.append(
                    f"resources.{field}: {value!r} means milli-bytes; did you mean {value[:-1] + 'Mi'!r}?"
                )
        if self.resources.vram_request_mb and not self.resources.gpu_count:
            found.append("resources.vram_request_mb is set but gpu_count is 0; no GPU will be requested")
        for index, spec in enumerate(self.env_schema):
            if spec.generate and not spec.secret:
                found.append(
                    f"env_schema.{index}: {spec.name} is generated but not secret; "
                    "it will be visible in the pod spec"
                )
        if self.registry_url and _has_registry_host(self.image):
            found.append(
                f"image {self.image!r} already names a registry; registry_url {self.registry_url!r} "
                "will be put in front of it"
            )
        if self.kind == "daemonset":
            for index, volume in enumerate(self.volumes):
                if isinstance(volume, PvcVolume) and volume.access_mode in ("RWO", "RWOP"):
                    found.append(
                        f"volumes.{index}: a daemonset runs on every node, but a {volume.access_mode} "
                        "claim can be mounted on one node only"
                    )
        return found


def _has_registry_host(image: str) -> bool:
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost" or first != first.lower())


def _cross_field_problems(stack: Stack) -> Iterator[tuple[str, str]]:
    resources = stack.resources
    for what in ("cpu", "memory"):
        request: str | None = getattr(resources, f"{what}_request")
        limit: str | None = getattr(resources, f"{what}_limit")
        if request is not None and limit is not None and parse_quantity(request) > parse_quantity(limit):
            yield (
                f"resources.{what}_request",
                f"{what}_request {request} is more than {what}_limit {limit}",
            )

    for index, spec in enumerate(stack.env_schema):
        if spec.generate and spec.default_value is not None:
            yield (
                f"env_schema.{index}.default_value",
                "must be empty when generate is on (the value is generated at deploy time)",
            )

    ports_by_name: dict[str, int] = {}
    ports_by_number: dict[tuple[int, str], int] = {}
    for index, port in enumerate(stack.ports):
        if port.name in ports_by_name:
            yield (
                f"ports.{index}.name",
                f"duplicate port name {port.name!r} (already used by ports[{ports_by_name[port.name]}])",
            )
        else:
            ports_by_name[port.name] = index
        number = (port.container_port, port.protocol)
        if number in ports_by_number:
            yield (
                f"ports.{index}.container_port",
                f"duplicate port {port.container_port}/{port.protocol} "
                f"(already used by ports[{ports_by_number[number]}])",
            )
        else:
            ports_by_number[number] = index

    env_names: dict[str, str] = {}
    named: list[tuple[str, str]] = [(f"env.{i}", item.name) for i, item in enumerate(stack.env)]
    named += [(f"env_schema.{i}", item.name) for i, item in enumerate(stack.env_schema)]
    for where, env_name in named:
        if env_name in env_names:
            yield (
                f"{where}.name",
                f"duplicate environment variable {env_name!r} "
                f"(already defined at {_brackets(env_names[env_name])})",
            )
        else:
            env_names[env_name] = where

    yield from _duplicates(
        ((f"volumes.{i}.name", v.name) for i, v in enumerate(stack.volumes)), "volume name"
    )
    yield from _duplicates(
        ((f"config_slots.{i}.name", s.name) for i, s in enumerate(stack.config_slots)), "config slot name"
    )
    yield from _duplicates(
        (
            (f"volumes.{i}.env_prefix", v.env_prefix)
            for i, v in enumerate(stack.volumes)
            if isinstance(v, S3Volume)
        ),
        "s3 env_prefix",
    )

    mounts: list[tuple[str, str, bool]] = [
        (f"volumes.{i}", v.mount_path, False)
        for i, v in enumerate(stack.volumes)
        if not isinstance(v, S3Volume)
    ]
    mounts += [(f"config_slots.{i}", s.mount_path, True) for i, s in enumerate(stack.config_slots)]
    by_path: dict[str, str] = {}
    files = {path: where for where, path, is_file in mounts if is_file}
    for where, path, _ in mounts:
        if path in by_path:
            yield (
                f"{where}.mount_path",
                f"mount path {path!r} is already used by {_brackets(by_path[path])}",
            )
            continue
        by_path[path] = where
        parent = path.rsplit("/", 1)[0]
        while parent:
            if parent in files:
                yield (
                    f"{where}.mount_path",
                    f"mount path {path!r} is inside {parent!r}, the config file mounted by "
                    f"{_brackets(files[parent])}",
                )
                break
            parent = parent.rsplit("/", 1)[0]


def _duplicates(items: Iterable[tuple[str, str]], what: str) -> Iterator[tuple[str, str]]:
    seen: dict[str, str] = {}
    for where, value in items:
        if value in seen:
            yield where, f"duplicate {what} {value!r} (already used by {_brackets(seen[value])})"
        else:
            seen[value] = where.rsplit(".", 1)[0]


def _brackets(path: str) -> str:
    """``ports.1.name`` → ``ports[1].name`` for messages meant for people."""
    out = ""
    for part in path.split(".") if path else []:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


# --------------------------------------------------------------------------- #
# validate_stack: untrusted input → Stack or our ValidationError
# --------------------------------------------------------------------------- #


def _all_field_names() -> list[str]:
    models: list[type[BaseModel]] = [
        Stack,
        Port,
        Resources,
        EnvVar,
        EnvVarSpec,
        ConfigSlot,
        EmptyDirVolume,
        HostPathVolume,
        PvcVolume,
        NfsVolume,
        S3Volume,
        ConfigMapVolume,
        SecretVolume,
    ]
    return sorted({name for model in models for name in model.model_fields})


_FIELD_NAMES = _all_field_names()


def _clean_loc(loc: tuple[int | str, ...]) -> list[str]:
    parts: list[str] = []
    for index, item in enumerate(loc):
        if item == "[key]":
            continue
        if (
            index >= 2
            and loc[index - 2] == "volumes"
            and isinstance(loc[index - 1], int)
            and item in VOLUME_TYPES
        ):
            continue  # the discriminator tag pydantic puts into the location
        parts.append(str(item))
    return parts


def _describe(value: object) -> str:
    return type(value).__name__ if value is not None else "nothing"


def _explain(error: Any) -> tuple[list[str], str]:
    """One pydantic error → (path parts, message for people)."""
    loc = _clean_loc(tuple(error.get("loc", ())))
    kind = error.get("type", "")
    message = str(error.get("msg", "is invalid"))
    value = error.get("input")
    if kind == "model_type" and not loc:
        message = f"expected a mapping of stack fields, got {_describe(value)}"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping, got {_describe(value)}"
    elif kind == "list_type":
        message = f"expected a list, got {_describe(value)}"
    elif kind == "string_type":
        message = f"expected text, got {_describe(value)}"
    elif kind == "int_type":
        message = f"expected a whole number, got {_describe(value)}"
    elif kind == "bool_type":
        message = f"expected true or false, got {_describe(value)}"
    elif kind in ("greater_than_equal", "less_than_equal"):
        ctx = error.get("ctx", {})
        bound = ctx.get("ge", ctx.get("le"))
        message = f"must be at {'least' if kind == 'greater_than_equal' else 'most'} {bound}"
    elif kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "unknown field"
        if loc:
            close = difflib.get_close_matches(loc[-1], _FIELD_NAMES, n=1, cutoff=0.75)
            if close:
                message += f" (did you mean {close[0]!r}?)"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        loc = [*loc, "type"]
        tag = error.get("ctx", {}).get("tag", "")
        message = (
            f"unknown volume type {_short(str(tag))!r}" if kind == "union_tag_invalid" else "is required"
        ) + f"; use one of {', '.join(VOLUME_TYPES)}"
    if message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    return loc, message


def _pydantic_problems(exc: pydantic.ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        if error.get("type") == _RULE_ERROR:
            base = _clean_loc(tuple(error.get("loc", ())))
            for relative, message in error.get("ctx", {}).get("problems", ()):
                problems.append((".".join([*base, *([relative] if relative else [])]), str(message)))
            continue
        loc, message = _explain(error)
        problems.append((".".join(loc), message))
    return problems


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return _short(flat, limit)


def problems_to_error(problems: list[tuple[str, str]], *, what: str = "Stack") -> ValidationError:
    """Build our ValidationError from ``(dotted path, message)`` pairs."""
    errors: dict[str, str] = {}
    for path, message in problems:
        message = _one_line(message)
        errors[path] = (
            f"{errors[path]}; {message}" if path in errors and message not in errors[path] else message
        )
    count = len(problems)
    shown = [
        f"{_display_path(path)}: {_one_line(msg)}" if path else _one_line(msg) for path, msg in problems[:3]
    ]
    summary = "; ".join(shown)
    if count > 3:
        summary += f"; and {count - 3} more"
    noun = "problem" if count == 1 else "problems"
    return ValidationError(f"{what} is invalid: {count} {noun} — {summary}", errors=errors)


def _display_path(path: str) -> str:
    shown = _brackets(path)
    return shown if shown.isprintable() and len(shown) <= 120 else _short(repr(path), 120)


def validate_stack(data: object) -> Stack:
    """Validate untrusted input (a mapping, usually from JSON or YAML) into a :class:`Stack`.

    Raises only :class:`podwarden.engine.errors.ValidationError`; its ``errors``
    map dotted field paths (``"ports.1.container_port"``; ``""`` for the whole
    document) to messages.
    """
    try:
        if isinstance(data, Stack):
            return data
        check_document_size(data)
        return Stack.model_validate(data)
    except ValidationError:
        raise
    except pydantic.ValidationError as exc:
        try:
            problems = _pydantic_problems(exc)
        except Exception:  # pragma: no cover - defensive: never leak another type
            problems = [("", "the input could not be validated")]
        raise problems_to_error(problems or [("", "is invalid")]) from exc
    except RecursionError as exc:
        raise problems_to_error([("", "the input is nested too deeply")]) from exc
    except Exception as exc:  # any other failure on odd input still becomes our error
        raise problems_to_error([("", f"the input could not be validated ({type(exc).__name__})")]) from exc


def check_document_size(data: object, *, what: str = "Stack") -> None:
    """Refuse documents whose (possibly shared, YAML-aliased) tree is absurdly large.

    Raises our ValidationError; the walk itself stops after the budget is spent.
    """
    budget = MAX_DOCUMENT_NODES
    stack: list[object] = [data]
    while stack:
        item = stack.pop()
        budget -= 1
        if budget < 0:
            raise ValidationError(
                f"{what} is invalid: 1 problem — the document is too large",
                errors={"": "the document is too large"},
            )
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)


# --------------------------------------------------------------------------- #
# YAML
# --------------------------------------------------------------------------- #


def _increase_indent(self: Any, flow: bool = False, indentless: bool = False) -> None:
    yaml.SafeDumper.increase_indent(self, flow, False)


def _represent_str(dumper: Any, value: str) -> Any:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


# Block style, lists indented under their key, multi-line text as ``|`` blocks.
# (Built with type() so that the module type-checks with or without types-PyYAML.)
_Dumper: Any = type("_Dumper", (yaml.SafeDumper,), {"increase_indent": _increase_indent})
_Dumper.add_representer(str, _represent_str)

#: Fields written even when they hold their default value.
_ALWAYS_WRITTEN = frozenset({"name", "kind", "image", "type"})


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        out: dict[str, object] = {}
        for field_name, info in type(value).model_fields.items():
            item = getattr(value, field_name)
            if (
                field_name not in _ALWAYS_WRITTEN
                and not info.is_required()
                and item == info.get_default(call_default_factory=True)
            ):
                continue
            out[field_name] = _plain(item)
        return out
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def stack_to_yaml(stack: Stack) -> str:
    """The readable YAML form: fixed key order, defaults left out, exact round trip."""
    text: str = yaml.dump(
        _plain(stack),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=4096,
    )
    return text


def load_yaml_document(text: str, *, what: str, loader: Any = None) -> object:
    """``yaml.safe_load`` with every failure turned into our ValidationError (line/column).

    ``loader`` may name a subclass of ``yaml.SafeLoader`` (e.g. with YAML 1.2 scalars).
    """
    if not isinstance(text, str):
        raise ValidationError(f"{what} YAML is not valid: expected text", errors={"": "expected text"})
    if len(text) > MAX_YAML_CHARS:
        reason = f"the document is larger than {MAX_YAML_CHARS} characters"
        raise ValidationError(f"{what} YAML is not valid: {reason}", errors={"": reason})
    try:
        if loader is None:
            return yaml.safe_load(text)
        if not issubclass(loader, yaml.SafeLoader):
            raise TypeError("loader must be a yaml.SafeLoader subclass")
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        reason = _one_line(f"{where}{problem}")
        raise ValidationError(f"{what} YAML is not valid: {reason}", errors={"": reason}) from exc
    except RecursionError as exc:
        reason = "the document is nested too deeply"
        raise ValidationError(f"{what} YAML is not valid: {reason}", errors={"": reason}) from exc
    except Exception as exc:  # YAMLError without a mark, bad timestamps (ValueError), …
        reason = _one_line(str(exc) or type(exc).__name__)
        raise ValidationError(f"{what} YAML is not valid: {reason}", errors={"": reason}) from exc


def stack_from_yaml(text: str) -> Stack:
    """Parse the YAML form (``yaml.safe_load`` only) and validate it."""
    return validate_stack(load_yaml_document(text, what="Stack"))


# --------------------------------------------------------------------------- #
# Helpers shared with importers
# --------------------------------------------------------------------------- #


def normalise_dns_label(text: str, *, fallback: str = "app") -> str:
    """Turn any name (``My_Service.1``) into a DNS label (``my-service-1``)."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    label = re.sub(r"-{2,}", "-", label).strip("-")[:63].strip("-")
    return label or fallback
