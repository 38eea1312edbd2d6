"""Import a docker-compose file as PodWarden stacks.

``import_compose(text, project_name="shop")`` reads a compose file (compose
specification, ``yaml.safe_load`` only) and returns a :class:`ComposeImport`:

* **one stack per service** (``kind: deployment``), named after the service
  normalised to a DNS label (``My_DB`` → ``my-db``; clashes get ``-2``, ``-3``…);
* ``services``: for every stack that needs a Kubernetes Service, the ports it
  exposes (published ``ports:``, ``expose:``, ports other services connect to, or
  the well-known port of a few official images; inferred ones are flagged);
* ``aliases``: alias Service name → stack name. Every compose service gets an
  alias Service named after its (normalised) compose name, plus its
  ``container_name``, ``hostname``, network ``aliases`` and ``links`` aliases, so
  that names used inside images or config files still resolve. A deployment may
  be named differently from the stack; the alias is what stays stable.
* ``warnings``: everything that was dropped, guessed or changed.

Decisions
---------
Service references
    Environment values (and ``command``/``entrypoint`` arguments) that name another
    service are rewritten to ``<alias>.{{namespace}}.svc.cluster.local``
    (:data:`~podwarden.engine.schemas.stacks.NAMESPACE_PLACEHOLDER`); the deployer
    replaces ``{{namespace}}`` with the target namespace. A FQDN keeps working
    from other namespaces and makes the dependency visible in the stack. Only
    host positions are rewritten: URL hosts (``postgres://u:pw@db:5432/app``),
    ``host:port`` items (``db:5432``, ``tcp(db:3306)``), ``host=db`` keywords, and
    bare names (``db``, ``db1,db2``) when the variable name says it holds a host
    (``*_HOST``, ``*_URL``, ``*_SERVER``…). Substrings of other words
    (``mydb``, ``dbname=app``, ``db_user``, ``db.example.com``), URL paths and
    user names/passwords are never touched.
Variables
    ``${VAR}``, ``$VAR``, ``${VAR:?msg}`` (required), ``${VAR:-default}`` /
    ``${VAR-default}`` (optional, ``default_value``) inside ``environment``,
    ``command`` and ``entrypoint`` become ``env_schema`` entries and are written as
    Kubernetes dependent variables ``$(VAR)`` (renderers emit ``env_schema`` before
    ``env``, so Kubernetes expands them); ``FOO: ${FOO:-x}`` becomes just the
    schema entry. Variables anywhere else (``image``, ``ports``, ``volumes``…)
    cannot change per deployment: their default is used (with a warning), an
    unset one is empty as in compose, and ``${VAR:?}`` there is an error.
    ``$$`` is a literal ``$``; a literal ``$(`` is escaped as ``$$(``.
Build-only services
    A service with ``build:`` but no ``image:`` is **skipped with a warning**
    (push the image and import again); the rest of the file still imports and
    references to the skipped service are left as written. A
    service with neither is an error, and so is a file whose every service is
    build-only.
Commands
    compose ``command`` → stack ``args`` (the image's entrypoint is kept);
    compose ``entrypoint`` → stack ``command``. Strings are split with ``shlex``.
Volumes
    One PVC volume per named volume (``claim_name`` ``<project>-<volume>``, shared
    by every service that mounts it, size :data:`DEFAULT_VOLUME_SIZE`); bind mounts
    become hostPath volumes (relative sources under
    ``/srv/podwarden/<project>/``) with a warning; anonymous volumes and tmpfs
    become emptyDir.
Images
    ``ghcr.io/org/app:1.2`` → ``registry_url`` ``ghcr.io``, ``image`` ``org/app``,
    ``image_tag`` ``1.2``. A missing tag means ``latest`` (as in compose), not the
    fleet default.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from podwarden.engine.errors import ValidationError
from podwarden.engine.schemas.stacks import (
    NAMESPACE_PLACEHOLDER,
    Stack,
    check_document_size,
    load_yaml_document,
    normalise_dns_label,
    validate_stack,
)

__all__ = [
    "CLUSTER_DOMAIN",
    "DEFAULT_VOLUME_SIZE",
    "HOSTPATH_BASE",
    "ComposeImport",
    "ServicePort",
    "import_compose",
]

#: Suffix of the rewritten service names: ``<alias>.{{namespace}}.svc.cluster.local``.
CLUSTER_DOMAIN = "svc.cluster.local"
#: Size of the PVC made for each named volume (compose volumes have no size).
DEFAULT_VOLUME_SIZE = "1Gi"
#: Where relative bind-mount sources go on the nodes: ``<base>/<project>/<path>``.
HOSTPATH_BASE = "/srv/podwarden"

#: Port of a few official images, used when a service declares none.
WELL_KNOWN_PORTS: dict[str, int] = {
    "postgres": 5432,
    "postgis/postgis": 5432,
    "timescale/timescaledb": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "redis": 6379,
    "valkey/valkey": 6379,
    "mongo": 27017,
    "memcached": 11211,
    "rabbitmq": 5672,
    "nats": 4222,
    "elasticsearch": 9200,
}

_HANDLED_KEYS = frozenset(
    {
        "image",
        "build",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "ports",
        "expose",
        "volumes",
        "tmpfs",
        "depends_on",
        "restart",
        "deploy",
        "healthcheck",
        "container_name",
        "hostname",
        "networks",
        "links",
        "network_mode",
        "cpus",
        "mem_limit",
        "mem_reservation",
        "gpus",
        "scale",
    }
)
_TOP_LEVEL_QUIET = frozenset({"version", "name", "services", "volumes", "networks"})
_DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True)
class ServicePort:
    """A port a stack's Service exposes. ``port`` is the container port (what other
    services connect to); ``published`` is the compose host port, if any."""

    name: str
    port: int
    protocol: str = "TCP"
    published: int | None = None
    host_ip: str | None = None
    inferred: bool = False


@dataclass(frozen=True)
class ComposeImport:
    """The result of :func:`import_compose`. Keys of ``services``, ``depends_on``
    and ``replicas`` and values of ``aliases`` are stack names."""

    project_name: str
    stacks: list[Stack]
    services: dict[str, list[ServicePort]]
    aliases: dict[str, str]
    depends_on: dict[str, list[str]] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def stack(self, name: str) -> Stack:
        """The stack called ``name`` (KeyError when there is none)."""
        for stack in self.stacks:
            if stack.name == name:
                return stack
        raise KeyError(name)


# --------------------------------------------------------------------------- #
# YAML 1.2 scalars, as compose reads them
# --------------------------------------------------------------------------- #


def _compose_loader() -> Any:
    """A ``yaml.SafeLoader`` that reads scalars the way compose (YAML 1.2) does.

    PyYAML follows YAML 1.1: ``80:80`` would be the sexagesimal number 4880,
    ``no``/``on`` booleans and ``2024-01-01`` a date. Compose sees strings there.
    """
    loader: Any = type("_ComposeLoader", (yaml.SafeLoader,), {})
    dropped = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
    dropped.add("tag:yaml.org,2002:timestamp")
    loader.yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag not in dropped]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
    )
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )
    return loader


_COMPOSE_LOADER = _compose_loader()


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


class _ServiceError(Exception):
    """A problem inside one service; ``path`` is relative to the service."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _service_error(service: str, path: str, reason: str) -> ValidationError:
    where = f"services.{service}" + (f".{path}" if path else "")
    shown = f"{path}: " if path else ""
    return ValidationError(f"Compose service {service!r} is invalid: {shown}{reason}", errors={where: reason})


def _file_error(path: str, reason: str) -> ValidationError:
    return ValidationError(f"Not a usable compose file: {reason}", errors={path: reason})


# --------------------------------------------------------------------------- #
# Interpolation: ${VAR}, ${VAR:-default}, ${VAR:?err}, $VAR, $$
# --------------------------------------------------------------------------- #

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


@dataclass(frozen=True)
class _Ref:
    name: str
    op: str  # "", ":-", "-", ":?", "?", ":+", "+"
    arg: str


def _tokenize(text: str) -> list[str | _Ref]:
    """Split ``text`` into literal pieces and variable references (``$$`` → ``$``)."""
    pieces: list[str | _Ref] = []
    literal: list[str] = []
    index, size = 0, len(text)

    def flush() -> None:
        if literal:
            pieces.append("".join(literal))
            literal.clear()

    while index < size:
        char = text[index]
        if char != "$":
            literal.append(char)
            index += 1
            continue
        following = text[index + 1] if index + 1 < size else ""
        if following == "$":
            literal.append("$")
            index += 2
            continue
        if following == "{":
            end, depth, cursor = -1, 1, index + 2
            while cursor < size:
                if text.startswith("${", cursor):
                    depth += 1
                    cursor += 2
                    continue
                if text[cursor] == "}":
                    depth -= 1
                    if depth == 0:
                        end = cursor
                        break
                cursor += 1
            if end < 0:
                raise _ServiceError("", f"unclosed '${{' in {_short(text)!r}")
            body = text[index + 2 : end]
            match = _VAR_NAME.match(body)
            if match is None:
                raise _ServiceError("", f"invalid variable reference '${{{_short(body)}}}'")
            rest = body[match.end() :]
            op = next((candidate for candidate in _OPERATORS if rest.startswith(candidate)), None)
            if rest and op is None:
                raise _ServiceError("", f"invalid variable reference '${{{_short(body)}}}'")
            flush()
            pieces.append(_Ref(match.group(), op or "", rest[len(op or "") :]))
            index = end + 1
            continue
        match = _VAR_NAME.match(text, index + 1)
        if match is not None:
            flush()
            pieces.append(_Ref(match.group(), "", ""))
            index = match.end()
            continue
        literal.append("$")  # a lone '$' stays literal
        index += 1
    flush()
    return pieces


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- #
# Service references → cluster DNS names
# --------------------------------------------------------------------------- #

_HOST_TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")
#: Variables stand in the text as one character each from here on (private use plane 16).
_PLACEHOLDER_BASE = 0x100000
_AFTER_HOST = re.compile(r"(?::(?P<port>[0-9]{1,5})|:(?P<var>[\U00100000-\U0010FFFD]))?(?![A-Za-z0-9_.\-:@])")
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\Z")
_URL_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/\s?#@]*@\Z")
_AUTHORITY = re.compile(r"[^/\s?#]*")
_HOST_KEYWORD = re.compile(r"(?:^|[^A-Za-z0-9_])(?:host|hostname|server|address|addr)=\Z", re.IGNORECASE)
_HOST_PORT_BEFORE = frozenset(" \t\r\n,;=(")
_BARE_BEFORE = frozenset(" \t\r\n,;")
_HOSTLIKE_WORDS = frozenset(
    {
        "HOST",
        "HOSTS",
        "HOSTNAME",
        "SERVER",
        "SERVERS",
        "ADDR",
        "ADDRESS",
        "URL",
        "URLS",
        "URI",
        "DSN",
        "ENDPOINT",
        "BROKER",
        "BROKERS",
        "PEERS",
        "UPSTREAM",
    }
)
_SECRET_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "TOKEN", "KEY", "APIKEY", "CREDENTIALS"}
)


def _host_like(variable: str) -> bool:
    words = re.split(r"[^A-Za-z0-9]+", variable.upper())
    return any(word in _HOSTLIKE_WORDS for word in words) or variable.upper().endswith(
        ("HOST", "HOSTS", "URL", "URI", "SERVER", "ADDR")
    )


def _secret_like(variable: str) -> bool:
    return any(word in _SECRET_WORDS for word in re.split(r"[^A-Za-z0-9]+", variable.upper()))


def _fqdn(alias: str) -> str:
    return f"{alias}.{NAMESPACE_PLACEHOLDER}.{CLUSTER_DOMAIN}"


def _rewrite_hosts(
    text: str, hosts: Mapping[str, str], *, bare: bool
) -> tuple[str, list[tuple[str, int | None]]]:
    """Rewrite service names in host positions; return the text and (alias, port) found."""
    out: list[str] = []
    found: list[tuple[str, int | None]] = []
    position = 0
    for match in _HOST_TOKEN.finditer(text):
        alias = hosts.get(match.group())
        if alias is None:
            continue
        after = _AFTER_HOST.match(text, match.end())
        if after is None:
            continue
        before = text[max(0, match.start() - 512) : match.start()]
        port_text = after.group("port")
        has_port = port_text is not None or after.group("var") is not None
        previous = before[-1:] if before else ""
        if _URL_START.search(before):
            authority = _AUTHORITY.match(text, match.end())
            is_host = authority is None or "@" not in authority.group()  # else it is the URL's user name
        elif _URL_USERINFO.search(before) or _HOST_KEYWORD.search(before):
            is_host = True
        elif has_port:
            is_host = not previous or previous in _HOST_PORT_BEFORE
        else:
            following = text[after.end() : after.end() + 1]
            is_host = (
                bare
                and (not previous or previous in _BARE_BEFORE)
                and (not following or following in _BARE_BEFORE)
            )
        if not is_host:
            continue
        out.append(text[position : match.start()])
        out.append(_fqdn(alias))
        position = match.end()
        found.append((alias, int(port_text) if port_text is not None else None))
    out.append(text[position:])
    return "".join(out), found


# --------------------------------------------------------------------------- #
# Small parsers
# --------------------------------------------------------------------------- #

_MEMORY = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(?:i?b)?\s*", re.IGNORECASE)
_UNIT_POWER = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def _docker_memory(value: object) -> str:
    """Docker memory (``512m``, ``1.5g``, ``1073741824``; binary units) → quantity."""
    if isinstance(value, bool):
        raise _ServiceError("", "memory must be a size such as '512m'")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str) and (match := _MEMORY.fullmatch(value)):
        try:
            number = Decimal(match.group(1))
        except InvalidOperation as exc:  # pragma: no cover - the regex allows only digits
            raise _ServiceError("", f"{value!r} is not a memory size") from exc
        amount = int(number * (1024 ** _UNIT_POWER[match.group(2).lower()]))
    else:
        raise _ServiceError("", f"{_short(str(value))!r} is not a memory size such as '512m' or '2g'")
    for suffix, power in (("Ti", 4), ("Gi", 3), ("Mi", 2), ("Ki", 1)):
        if amount and amount % (1024**power) == 0:
            return f"{amount // 1024**power}{suffix}"
    return str(amount)


def _cpus(value: object) -> str:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return str(value).strip()
    raise _ServiceError("", "cpus must be a number such as 0.5")


def _port_number(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= 65535:
        raise _ServiceError("", f"{_short(text)!r} is not a port number (1–65535)")
    return int(text)


def _port_range(text: str) -> list[int]:
    first, dash, last = text.partition("-")
    if not dash:
        return [_port_number(text.strip())]
    low, high = _port_number(first.strip()), _port_number(last.strip())
    if high < low or high - low >= 100:
        raise _ServiceError("", f"port range {text!r} must go upwards and span at most 100 ports")
    return list(range(low, high + 1))


@dataclass(frozen=True)
class _Mapping:
    container: int
    protocol: str
    published: int | None
    host_ip: str | None
    name: str | None = None


def _protocol(text: str) -> str:
    protocol = text.strip().upper()
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise _ServiceError("", f"protocol {text!r} must be tcp, udp or sctp")
    return protocol


def _parse_port(spec: object) -> list[_Mapping]:
    """Short (``"127.0.0.1:8080:80/udp"``, ``"80"``, ``80``) or long port syntax."""
    if isinstance(spec, bool):
        raise _ServiceError("", "a port must be a number or a string such as '8080:80'")
    if isinstance(spec, int):
        return [_Mapping(_port_number(str(spec)), "TCP", None, None)]
    if isinstance(spec, dict):
        return [_parse_long_port(spec)]
    if not isinstance(spec, str) or not spec.strip():
        raise _ServiceError("", "a port must be a number or a string such as '8080:80'")
    text, protocol = spec.strip(), "TCP"
    if "/" in text:
        text, _, proto_text = text.rpartition("/")
        protocol = _protocol(proto_text)
    host_ip: str | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or not text[close + 1 :].startswith(":"):
            raise _ServiceError("", f"{spec!r} is not a port mapping")
        host_ip = text[1:close]
        parts = text[close + 2 :].split(":")
        if len(parts) != 2:
            raise _ServiceError("", f"{spec!r} is not a port mapping ([ip]:host:container)")
    else:
        parts = text.split(":")
        if len(parts) > 3:
            host_ip, parts = ":".join(parts[:-2]), parts[-2:]
        elif len(parts) == 3:
            host_ip, parts = parts[0], parts[1:]
    published_text, container_text = ("", parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    containers = _port_range(container_text)
    published = _port_range(published_text) if published_text.strip() else None
    if published is not None and len(published) not in (1, len(containers)):
        raise _ServiceError("", f"{spec!r}: the host and container port ranges differ in size")
    if published is not None and len(published) == 1 and len(containers) > 1:
        raise _ServiceError("", f"{spec!r}: one host port cannot publish a range of container ports")
    host_ip = host_ip or None
    return [
        _Mapping(
            port,
            protocol,
            None if published is None else published[index if len(published) > 1 else 0],
            host_ip,
        )
        for index, port in enumerate(containers)
    ]


def _parse_long_port(spec: dict[Any, Any]) -> _Mapping:
    target = spec.get("target")
    if isinstance(target, bool) or not isinstance(target, int | str):
        raise _ServiceError("", "long port syntax needs 'target' (the container port)")
    container = _port_number(str(target).strip())
    published_value = spec.get("published")
    published: int | None = None
    if isinstance(published_value, int) and not isinstance(published_value, bool):
        published = _port_number(str(published_value))
    elif isinstance(published_value, str) and published_value.strip():
        published = _port_range(published_value.strip())[0]
    elif published_value is not None and published_value != "":
        raise _ServiceError("", "'published' must be a port number")
    protocol_value = spec.get("protocol", "tcp")
    if not isinstance(protocol_value, str):
        raise _ServiceError("", "'protocol' must be tcp, udp or sctp")
    host_ip = spec.get("host_ip")
    name = spec.get("name")
    return _Mapping(
        container,
        _protocol(protocol_value),
        published,
        host_ip if isinstance(host_ip, str) and host_ip else None,
        name if isinstance(name, str) and name else None,
    )


def _split_image(reference: str) -> tuple[str | None, str, str | None, str | None]:
    """``ghcr.io/org/app:1@sha256:…`` → (registry, repository, tag, digest)."""
    rest, _, digest = reference.partition("@")
    tag: str | None = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, _, tag = rest.rpartition(":")
    registry: str | None = None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    if registry in _DOCKER_HUB:
        registry = None
    return registry, rest, tag or None, digest or None


def _as_list(value: object, key: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise _ServiceError(key, f"must be a list, got {type(value).__name__}")


def _as_text(value: object, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise _ServiceError(key, f"must be text, got {type(value).__name__}")


def _unique(name: str, used: set[str]) -> str:
    candidate, counter = name, 2
    while candidate in used:
        suffix = f"-{counter}"
        candidate = name[: 63 - len(suffix)].rstrip("-") + suffix
        counter += 1
    used.add(candidate)
    return candidate


# --------------------------------------------------------------------------- #
# The importer
# --------------------------------------------------------------------------- #


@dataclass
class _Draft:
    """A service on its way to becoming a stack."""

    compose_name: str
    stack_name: str
    spec: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[tuple[int, str], ServicePort] = field(default_factory=dict)
    port_names: set[str] = field(default_factory=set)


class _Importer:
    def __init__(self, document: dict[Any, Any], project: str) -> None:
        self.document = document
        self.project = project
        self.warnings: list[str] = []
        self.drafts: list[_Draft] = []
        self.hosts: dict[str, str] = {}  # name used in compose → alias (stack name)
        self.aliases: dict[str, str] = {}
        self.references: list[tuple[str, str, int | None]] = []  # (from stack, to alias, port)
        self.volume_users: dict[str, list[str]] = {}
        self.top_volumes: dict[str, dict[str, Any]] = {}
        self.depends_on: dict[str, list[str]] = {}
        self.replicas: dict[str, int] = {}
        self._static_warned: set[tuple[str, str]] = set()

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # -- top level ---------------------------------------------------------- #

    def run(self) -> ComposeImport:
        services = self.document.get("services")
        if not isinstance(services, dict):
            raise _file_error("services", "it has no 'services' mapping")
        if not services:
            raise _file_error("services", "'services' is empty")
        for key in self.document:
            if key not in _TOP_LEVEL_QUIET and not str(key).startswith("x-"):
                self.warn(f"top-level {key!r} is not imported")
        self._read_top_volumes()
        self._plan(services)
        if not self.drafts:
            raise _file_error("services", "no service has an image (build-only services cannot be imported)")
        for draft in self.drafts:
            try:
                self._build(draft)
            except _ServiceError as exc:
                raise _service_error(draft.compose_name, exc.path, exc.reason) from exc
        self._infer_ports()
        self._report_volumes()
        stacks: list[Stack] = []
        for draft in self.drafts:
            stacks.append(self._finish(draft))
        services_out = {draft.stack_name: list(draft.ports.values()) for draft in self.drafts if draft.ports}
        return ComposeImport(
            project_name=self.project,
            stacks=stacks,
            services=services_out,
            aliases=dict(self.aliases),
            depends_on=self.depends_on,
            replicas=self.replicas,
            warnings=list(self.warnings),
        )

    def _read_top_volumes(self) -> None:
        volumes = self.document.get("volumes")
        if volumes is None:
            return
        if not isinstance(volumes, dict):
            raise _file_error("volumes", "top-level 'volumes' must be a mapping")
        for key, value in volumes.items():
            if value is not None and not isinstance(value, dict):
                raise _file_error(f"volumes.{key}", f"volume {key!r} must be a mapping or empty")
            config = self._static(value or {}, "", f"volumes.{key}")
            self.top_volumes[str(key)] = config if isinstance(config, dict) else {}

    def _plan(self, services: dict[Any, Any]) -> None:
        used: set[str] = set()
        for key, spec in services.items():
            name = str(key)
            if spec is None:
                spec = {}
            if not isinstance(spec, dict):
                raise _service_error(name, "", f"must be a mapping, got {type(spec).__name__}")
            if "image" not in spec or spec.get("image") in (None, ""):
                if "build" in spec:
                    self.warn(
                        f"{name}: skipped — it only has 'build:'; push the image to a registry, "
                        "add 'image:' and import again"
                    )
                    continue
                raise _service_error(name, "image", "has no image (and no build)")
            stack_name = _unique(normalise_dns_label(name, fallback="service"), used)
            if stack_name != name:
                self.warn(f"{name}: stack named {stack_name!r} (service names must be DNS labels)")
            self.drafts.append(_Draft(name, stack_name, spec))
            self.hosts[name] = stack_name
            self.aliases[stack_name] = stack_name
        for draft in self.drafts:
            for extra in self._extra_names(draft):
                self._add_alias(extra, draft)

    def _extra_names(self, draft: _Draft) -> list[str]:
        spec = draft.spec
        names: list[str] = []
        for key in ("container_name", "hostname"):
            if isinstance(spec.get(key), str) and spec[key]:
                names.append(spec[key])
        networks = spec.get("networks")
        if isinstance(networks, dict):
            for config in networks.values():
                if isinstance(config, dict) and isinstance(config.get("aliases"), list):
                    names += [alias for alias in config["aliases"] if isinstance(alias, str)]
        for other in self.drafts:
            links = other.spec.get("links")
            for link in links if isinstance(links, list) else []:
                if isinstance(link, str) and ":" in link:
                    target, _, alias = link.partition(":")
                    if target == draft.compose_name:
                        names.append(alias)
        return names

    def _add_alias(self, name: str, draft: _Draft) -> None:
        if self.hosts.get(name, draft.stack_name) != draft.stack_name:
            self.warn(f"{draft.compose_name}: alias {name!r} is already the name of another service; ignored")
            return
        self.hosts[name] = draft.stack_name
        alias = normalise_dns_label(name, fallback=draft.stack_name)
        if self.aliases.get(alias, draft.stack_name) != draft.stack_name:
            self.warn(f"{draft.compose_name}: alias {name!r} clashes with another service; ignored")
            return
        self.aliases[alias] = draft.stack_name

    # -- one service -------------------------------------------------------- #

    def _build(self, draft: _Draft) -> None:
        name = draft.compose_name
        raw = draft.spec
        spec: dict[str, Any] = {}
        for key, value in raw.items():
            key = str(key)
            spec[key] = (
                value if key in ("environment", "command", "entrypoint") else self._static(value, name, key)
            )
        ignored = sorted(key for key in spec if key not in _HANDLED_KEYS and not key.startswith("x-"))
        if ignored:
            self.warn(f"{name}: not imported: {', '.join(ignored)}")
        data = draft.data
        data["name"] = draft.stack_name
        data["description"] = f"Imported from compose project {self.project!r}, service {name!r}."
        data["kind"] = "deployment"
        data["tags"] = ["compose", self.project]
        self._image(draft, spec)
        self._commands(draft, spec)
        self._environment(draft, spec)
        self._ports(draft, spec)
        self._volumes(draft, spec)
        self._resources(draft, spec)
        self._runtime(draft, spec)

    def _image(self, draft: _Draft, spec: dict[str, Any]) -> None:
        image = spec.get("image")
        if not isinstance(image, str) or not image.strip():
            raise _ServiceError("image", "must be an image reference such as 'postgres:16'")
        registry, repository, tag, digest = _split_image(image.strip())
        if digest and tag:
            self.warn(f"{draft.compose_name}: image {image!r} has a tag and a digest; the digest is used")
        if not tag and not digest:
            self.warn(f"{draft.compose_name}: image {image!r} has no tag; using 'latest' (pin a version)")
        draft.data["image"] = repository
        draft.data["image_tag"] = digest or tag or "latest"
        if registry:
            draft.data["registry_url"] = registry
        if "build" in spec:
            self.warn(f"{draft.compose_name}: 'build:' ignored; the image {image!r} is used")

    def _commands(self, draft: _Draft, spec: dict[str, Any]) -> None:
        for compose_key, stack_key in (("entrypoint", "command"), ("command", "args")):
            value = spec.get(compose_key)
            if value is None:
                continue
            names: list[str] = []
            if isinstance(value, str):
                template = self._env_template(draft, value, compose_key, names)
                try:
                    words = shlex.split(template)
                except ValueError as exc:
                    raise _ServiceError(compose_key, f"cannot be split into words: {exc}") from exc
            elif isinstance(value, list):
                words = [
                    self._env_template(draft, _as_text(item, f"{compose_key}.{index}"), compose_key, names)
                    for index, item in enumerate(value)
                ]
            else:
                raise _ServiceError(compose_key, "must be a string or a list of strings")
            out: list[str] = []
            for word in words:
                rewritten, found = _rewrite_hosts(word, self.hosts, bare=False)
                self._note(draft, found)
                out.append(self._finish_template(rewritten, names))
            draft.data[stack_key] = out

    def _environment(self, draft: _Draft, spec: dict[str, Any]) -> None:
        if "env_file" in spec:
            self.warn(f"{draft.compose_name}: env_file ignored; add those variables to the stack's env")
        raw = spec.get("environment")
        items: dict[str, object] = {}
        if isinstance(raw, dict):
            for key, value in raw.items():
                if value is not None and not isinstance(value, str | int | float | bool):
                    raise _ServiceError(f"environment.{key}", "must be text")
                items[str(key)] = value
        elif isinstance(raw, list):
            for index, entry in enumerate(raw):
                if not isinstance(entry, str):
                    raise _ServiceError(f"environment.{index}", "must be 'NAME=value' or 'NAME'")
                key, equals, value = entry.partition("=")
                items[key] = value if equals else None
        elif raw is not None:
            raise _ServiceError("environment", "must be a mapping or a list of 'NAME=value'")
        env: list[dict[str, str]] = []
        for key, value in items.items():
            if value is None:
                self._declare(
                    draft, _Ref(key, "", ""), key, note="taken from the shell environment in compose"
                )
                continue
            text = _as_text(value, f"environment.{key}")
            pieces = _tokenize_at(text, f"environment.{key}")
            whole = pieces[0] if len(pieces) == 1 and isinstance(pieces[0], _Ref) else None
            if whole is not None and whole.name == key and whole.op not in (":+", "+"):
                self._declare(draft, whole, f"environment.{key}")
                continue
            names: list[str] = []
            template = self._env_template(draft, text, f"environment.{key}", names)
            rewritten, found = _rewrite_hosts(template, self.hosts, bare=_host_like(key))
            self._note(draft, found)
            env.append({"name": key, "value": self._finish_template(rewritten, names)})
        clashes = [item["name"] for item in env if item["name"] in draft.schema]
        for clash in clashes:
            del draft.schema[clash]
            self.warn(
                f"{draft.compose_name}: variable ${{{clash}}} has the same name as the env entry {clash}; "
                "the env value is used"
            )
        draft.data["env"] = env

    def _env_template(self, draft: _Draft, text: str, where: str, names: list[str]) -> str:
        """Literal text (``$(`` escaped) with one placeholder character per variable.

        The variable names are appended to ``names``; placeholder ``i`` stands for
        ``names[i]`` until :meth:`_finish_template` writes ``$(NAME)``.
        """
        out: list[str] = []
        for piece in _tokenize_at(text, where):
            if isinstance(piece, str):
                if any(ord(char) >= _PLACEHOLDER_BASE for char in piece):
                    raise _ServiceError(where, "contains characters from the private use plane 16")
                out.append(piece.replace("$(", "$$("))
                continue
            if not self._declare(draft, piece, where):
                continue
            out.append(chr(_PLACEHOLDER_BASE + len(names)))
            names.append(piece.name)
        return "".join(out)

    @staticmethod
    def _finish_template(template: str, names: list[str]) -> str:
        if not names:
            return template
        return "".join(
            f"$({names[ord(char) - _PLACEHOLDER_BASE]})"
            if _PLACEHOLDER_BASE <= ord(char) < _PLACEHOLDER_BASE + len(names)
            else char
            for char in template
        )

    def _declare(self, draft: _Draft, ref: _Ref, where: str, *, note: str | None = None) -> bool:
        """Record ``ref`` as an env_schema entry; False when it cannot be a variable."""
        if ref.op in (":+", "+"):
            self.warn(
                f"{draft.compose_name}: ${{{ref.name}{ref.op}…}} in {where} cannot be expressed; "
                "it was treated as unset (empty)"
            )
            return False
        default: str | None = None
        if ref.op in (":-", "-"):
            default, found = _rewrite_hosts(
                self._static_text(ref.arg, draft.compose_name, where), self.hosts, bare=_host_like(ref.name)
            )
            self._note(draft, found)
        entry = draft.schema.get(ref.name)
        if entry is None:
            description = note or f"Compose variable ${{{ref.name}}}"
            if ref.op in (":?", "?") and ref.arg:
                description = ref.arg
            entry = {"name": ref.name, "required": default is None, "description": description}
            if _secret_like(ref.name):
                entry["secret"] = True
            draft.schema[ref.name] = entry
        if default is not None:
            if "default_value" in entry and entry["default_value"] != default:
                self.warn(
                    f"{draft.compose_name}: ${{{ref.name}}} has different defaults; "
                    f"{entry['default_value']!r} is used"
                )
            else:
                entry["default_value"] = default
                entry["required"] = False
        return True

    def _note(self, draft: _Draft, found: list[tuple[str, int | None]]) -> None:
        for alias, port in found:
            self.references.append((draft.stack_name, alias, port))

    def _ports(self, draft: _Draft, spec: dict[str, Any]) -> None:
        for index, item in enumerate(_as_list(spec.get("ports"), "ports")):
            try:
                mappings = _parse_port(item)
            except _ServiceError as exc:
                raise _ServiceError(f"ports.{index}", exc.reason) from exc
            for mapping in mappings:
                self._add_port(draft, mapping, inferred=False)
        for index, item in enumerate(_as_list(spec.get("expose"), "expose")):
            text = _as_text(item, f"expose.{index}")
            protocol = "TCP"
            if "/" in text:
                text, _, proto_text = text.rpartition("/")
                protocol = _protocol(proto_text)
            try:
                numbers = _port_range(text.strip())
            except _ServiceError as exc:
                raise _ServiceError(f"expose.{index}", exc.reason) from exc
            for number in numbers:
                self._add_port(draft, _Mapping(number, protocol, None, None), inferred=False)

    def _add_port(self, draft: _Draft, mapping: _Mapping, *, inferred: bool) -> None:
        key = (mapping.container, mapping.protocol)
        existing = draft.ports.get(key)
        if existing is not None:
            if existing.published is None and mapping.published is not None:
                draft.ports[key] = ServicePort(
                    existing.name, existing.port, existing.protocol, mapping.published, mapping.host_ip
                )
            elif mapping.published is not None and mapping.published != existing.published:
                self.warn(
                    f"{draft.compose_name}: port {mapping.container} is published more than once; "
                    f"only host port {existing.published} is recorded"
                )
            return
        name = mapping.name if mapping.name else f"{mapping.protocol.lower()}-{mapping.container}"
        if name in draft.port_names:
            name = f"{mapping.protocol.lower()}-{mapping.container}"
        draft.port_names.add(name)
        draft.ports[key] = ServicePort(
            name, mapping.container, mapping.protocol, mapping.published, mapping.host_ip, inferred
        )

    # -- volumes ------------------------------------------------------------ #

    def _volumes(self, draft: _Draft, spec: dict[str, Any]) -> None:
        volumes: list[dict[str, Any]] = []
        used: set[str] = set()
        for index, item in enumerate(_as_list(spec.get("volumes"), "volumes")):
            try:
                volume = self._volume(draft, item, used)
            except _ServiceError as exc:
                raise _ServiceError(f"volumes.{index}", exc.reason) from exc
            if volume is not None:
                volumes.append(volume)
        tmpfs = spec.get("tmpfs")
        for item in [tmpfs] if isinstance(tmpfs, str) else _as_list(tmpfs, "tmpfs"):
            target, _, options = _as_text(item, "tmpfs").partition(":")
            volume = {"type": "emptyDir", "mount_path": target, "medium": "Memory"}
            size = re.search(r"(?:^|,)size=([^,]+)", options)
            if size:
                volume["size_limit"] = _docker_memory(size.group(1))
            volumes.append({"name": self._volume_name(target, used), **volume})
        draft.data["volumes"] = volumes

    def _volume_name(self, target: str, used: set[str]) -> str:
        base = posixpath.basename(target.rstrip("/")) or "volume"
        return _unique(normalise_dns_label(base, fallback="volume"), used)

    def _volume(self, draft: _Draft, item: object, used: set[str]) -> dict[str, Any] | None:
        name = draft.compose_name
        source: object
        target: object
        size: object = None
        sub_path: object = None
        if isinstance(item, str):
            parts = item.split(":")
            if len(parts) == 1:
                kind, source, target, mode = "volume", None, parts[0], ""
            elif len(parts) in (2, 3):
                source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
                kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
            else:
                raise _ServiceError("", f"{item!r} is not 'source:target[:mode]'")
            read_only = "ro" in mode.split(",")
        elif isinstance(item, dict):
            kind = str(item.get("type", "volume"))
            source, target = item.get("source"), item.get("target")
            read_only = item.get("read_only") is True
            sub_path = _mapping_at(item, "volume").get("subpath")
            size = _mapping_at(item, "tmpfs").get("size")
        else:
            raise _ServiceError("", "must be 'source:target[:mode]' or a mapping")
        if not isinstance(target, str) or not target.startswith("/"):
            raise _ServiceError("", f"the target {target!r} must be an absolute path in the container")
        if source is not None and not isinstance(source, str):
            raise _ServiceError("", "the source must be text")
        if kind == "tmpfs":
            volume: dict[str, Any] = {"type": "emptyDir", "mount_path": target, "medium": "Memory"}
            if size is not None:
                volume["size_limit"] = _docker_memory(size)
            return {"name": self._volume_name(target, used), **volume}
        if kind == "volume" and not source:
            self.warn(f"{name}: anonymous volume {target} became an emptyDir; its data is lost with the pod")
            return {"type": "emptyDir", "name": self._volume_name(target, used), "mount_path": target}
        if kind == "bind":
            if not isinstance(source, str) or not source:
                raise _ServiceError("", f"the bind mount at {target} needs a source path")
            return self._bind(draft, source, target, read_only, used)
        if kind != "volume":
            self.warn(f"{name}: volume of type {kind!r} at {target} is not supported; skipped")
            return None
        if not isinstance(source, str) or source not in self.top_volumes:
            raise _ServiceError("", f"named volume {source!r} is not declared under the top-level 'volumes'")
        config = self.top_volumes[source]
        self.volume_users.setdefault(source, []).append(draft.compose_name)
        external = config.get("external")
        if external:
            claim = (
                config.get("name") or (external.get("name") if isinstance(external, dict) else None) or source
            )
        else:
            claim = f"{self.project}-{config.get('name') or source}"
        volume = {
            "type": "pvc",
            "name": _unique(normalise_dns_label(source, fallback="data"), used),
            "mount_path": target,
            "size": DEFAULT_VOLUME_SIZE,
            "access_mode": "RWO",
            "claim_name": normalise_dns_label(str(claim), fallback="data"),
        }
        if read_only:
            volume["read_only"] = True
        if sub_path:
            self.warn(
                f"{name}: volume subpath {sub_path!r} of {source!r} is not supported; "
                "the whole volume is used"
            )
        return volume

    def _bind(
        self, draft: _Draft, source: str, target: str, read_only: bool, used: set[str]
    ) -> dict[str, Any]:
        if source.startswith("/"):
            path = source
            self.warn(
                f"{draft.compose_name}: bind mount {source} became a hostPath volume; the pod sees that "
                "path on whichever node it runs"
            )
        else:
            relative = [part for part in source.lstrip("~").split("/") if part not in ("", ".", "..")]
            path = "/".join([HOSTPATH_BASE, normalise_dns_label(self.project), *relative])
            self.warn(
                f"{draft.compose_name}: bind mount {source} became hostPath {path}; copy the files to every "
                "node that may run the pod (for a single config file, a config slot is better)"
            )
        volume: dict[str, Any] = {
            "type": "hostPath",
            "name": self._volume_name(target, used),
            "mount_path": target,
            "path": path,
            "host_path_type": "",
        }
        if read_only:
            volume["read_only"] = True
        return volume

    def _report_volumes(self) -> None:
        for volume, users in self.volume_users.items():
            if len(set(users)) > 1:
                self.warn(
                    f"volume {volume!r} is shared by {', '.join(sorted(set(users)))}; "
                    "its ReadWriteOnce claim works only while those pods run on the same node"
                )
        unused = [name for name in self.top_volumes if name not in self.volume_users]
        for name in unused:
            self.warn(f"volume {name!r} is not used by any imported service; skipped")
        for name, config in self.top_volumes.items():
            if name in self.volume_users and (config.get("driver") or config.get("driver_opts")):
                self.warn(f"volume {name!r}: driver options are not imported; it became a plain PVC")
            if name in self.volume_users and config.get("external"):
                self.warn(f"volume {name!r} is external; the claim must already exist in the namespace")

    # -- resources and runtime ---------------------------------------------- #

    def _resources(self, draft: _Draft, spec: dict[str, Any]) -> None:
        resources: dict[str, Any] = {}
        deploy = spec.get("deploy")
        if deploy is not None and not isinstance(deploy, dict):
            raise _ServiceError("deploy", "must be a mapping")
        deploy = deploy or {}
        limits = _mapping_at(deploy, "resources", "limits")
        reservations = _mapping_at(deploy, "resources", "reservations")
        try:
            if "cpus" in limits:
                resources["cpu_limit"] = _cpus(limits["cpus"])
            if "memory" in limits:
                resources["memory_limit"] = _docker_memory(limits["memory"])
            if "cpus" in reservations:
                resources["cpu_request"] = _cpus(reservations["cpus"])
            if "memory" in reservations:
                resources["memory_request"] = _docker_memory(reservations["memory"])
            if "cpus" in spec:
                resources.setdefault("cpu_limit", _cpus(spec["cpus"]))
            if "mem_limit" in spec:
                resources.setdefault("memory_limit", _docker_memory(spec["mem_limit"]))
            if "mem_reservation" in spec:
                resources.setdefault("memory_request", _docker_memory(spec["mem_reservation"]))
        except _ServiceError as exc:
            raise _ServiceError("deploy.resources", exc.reason) from exc
        gpus = 0
        devices = reservations.get("devices")
        for device in devices if isinstance(devices, list) else []:
            capabilities = device.get("capabilities") if isinstance(device, dict) else None
            if isinstance(capabilities, list) and "gpu" in capabilities:
                count = device.get("count")
                if isinstance(count, int) and not isinstance(count, bool):
                    gpus += count
                elif isinstance(device.get("device_ids"), list):
                    gpus += len(device["device_ids"])
                else:
                    gpus += 1
                    self.warn(f"{draft.compose_name}: GPU count {count!r} became 1 GPU")
        if spec.get("gpus") is not None and not gpus:
            gpus = spec["gpus"] if isinstance(spec["gpus"], int) and not isinstance(spec["gpus"], bool) else 1
            if gpus == 1 and spec["gpus"] != 1:
                self.warn(f"{draft.compose_name}: gpus {spec['gpus']!r} became 1 GPU")
        if gpus:
            resources["gpu_count"] = gpus
        if resources:
            draft.data["resources"] = resources
        replicas = deploy.get("replicas", spec.get("scale"))
        if isinstance(replicas, int) and not isinstance(replicas, bool):
            self.replicas[draft.stack_name] = replicas
            if replicas != 1:
                self.warn(
                    f"{draft.compose_name}: compose asks for {replicas} replicas; "
                    "choose the count when deploying"
                )
        ignored = sorted(str(key) for key in deploy if key not in ("replicas", "resources"))
        if ignored:
            self.warn(f"{draft.compose_name}: deploy settings not imported: {', '.join(ignored)}")

    def _runtime(self, draft: _Draft, spec: dict[str, Any]) -> None:
        name = draft.compose_name
        mode = spec.get("network_mode")
        if mode == "host":
            draft.data["host_network"] = True
            draft.data["dns_policy"] = "ClusterFirstWithHostNet"
        elif mode is not None:
            self.warn(f"{name}: network_mode {mode!r} is not supported; the pod gets its own network")
        restart = spec.get("restart")
        if restart is False or (
            isinstance(restart, str) and (restart == "no" or restart.startswith("on-failure"))
        ):
            shown = "no" if restart is False else restart
            self.warn(
                f"{name}: restart {shown!r} is not kept; a deployment always restarts its pods "
                "(make the stack a job if it should run once)"
            )
        if "healthcheck" in spec:
            self.warn(f"{name}: healthcheck ignored (stacks have no probes)")
        depends = spec.get("depends_on")
        targets = list(depends) if isinstance(depends, dict) else _as_list(depends, "depends_on")
        resolved = [self.hosts[str(target)] for target in targets if str(target) in self.hosts]
        missing = [str(target) for target in targets if str(target) not in self.hosts]
        if missing:
            self.warn(f"{name}: depends_on names services that were not imported: {', '.join(missing)}")
        if resolved:
            self.depends_on[draft.stack_name] = resolved
            self.warn(
                f"{name}: depends_on ({', '.join(resolved)}) is not enforced; Kubernetes starts all pods at "
                "once, so the app must retry its connections"
            )

    # -- after every service is built --------------------------------------- #

    def _infer_ports(self) -> None:
        by_stack = {draft.stack_name: draft for draft in self.drafts}
        for user, alias, port in self.references:
            draft = by_stack.get(alias)
            if draft is None or port is None or (port, "TCP") in draft.ports:
                continue
            self._add_port(draft, _Mapping(port, "TCP", None, None), inferred=True)
            self.warn(
                f"{draft.compose_name}: port {port} added because {user} connects to it (compose needs no "
                "declaration for that)"
            )
        for draft in self.drafts:
            if draft.ports:
                continue
            image = str(draft.data.get("image", ""))
            known = WELL_KNOWN_PORTS.get(image.removeprefix("library/"))
            if known is not None:
                self._add_port(draft, _Mapping(known, "TCP", None, None), inferred=True)
                self.warn(f"{draft.compose_name}: no ports declared; assumed {image}'s usual port {known}")
        referenced = {alias for _, alias, _ in self.references}
        for draft in self.drafts:
            if not draft.ports and draft.stack_name in referenced:
                self.warn(
                    f"{draft.compose_name}: other services connect to it but it declares no ports; "
                    "add a port to its stack so that its Service gets one"
                )

    def _finish(self, draft: _Draft) -> Stack:
        data = draft.data
        data["ports"] = [
            {"name": port.name, "container_port": port.port, "protocol": port.protocol}
            for port in draft.ports.values()
        ]
        data["env_schema"] = list(draft.schema.values())
        cleaned = {key: value for key, value in data.items() if value not in (None, [], {})}
        try:
            return validate_stack(cleaned)
        except ValidationError as exc:
            errors = {
                f"services.{draft.compose_name}.{path}".rstrip("."): msg for path, msg in exc.errors.items()
            }
            summary = exc.message.removeprefix("Stack is invalid: ")
            raise ValidationError(
                f"Compose service {draft.compose_name!r} does not make a valid stack: {summary}",
                errors=errors,
            ) from exc

    # -- variables outside the environment ---------------------------------- #

    def _static(self, value: object, service: str, where: str) -> object:
        """Resolve variables where they cannot change per deployment (image, ports…)."""
        if isinstance(value, dict):
            return {key: self._static(item, service, f"{where}.{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [self._static(item, service, f"{where}.{index}") for index, item in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value
        out: list[str] = []
        for piece in _tokenize_at(value, where):
            if isinstance(piece, str):
                out.append(piece)
                continue
            who = f"{service}: " if service else ""
            if piece.op in (":?", "?"):
                raise _ServiceError(
                    where,
                    f"needs variable {piece.name} ({piece.arg or 'required'}); it cannot be asked at deploy "
                    "time here — replace it with a value",
                )
            if piece.op in (":-", "-"):
                resolved = self._static_text(piece.arg, service, where)
                self._warn_static(
                    service, piece.name, f"{who}${{{piece.name}}} in {where} used its default {resolved!r}"
                )
                out.append(resolved)
            else:
                self._warn_static(service, piece.name, f"{who}${{{piece.name}}} in {where} is unset; used ''")
        return "".join(out)

    def _static_text(self, text: str, service: str, where: str) -> str:
        resolved = self._static(text, service, where)
        return resolved if isinstance(resolved, str) else text

    def _warn_static(self, service: str, variable: str, message: str) -> None:
        if (service, variable) not in self._static_warned:
            self._static_warned.add((service, variable))
            self.warn(message)


def _tokenize_at(text: str, where: str) -> list[str | _Ref]:
    try:
        return _tokenize(text)
    except _ServiceError as exc:
        raise _ServiceError(where, exc.reason) from exc


def _mapping_at(root: dict[str, Any], *keys: str) -> dict[str, Any]:
    current: object = root
    for key in keys:
        current = current.get(key) if isinstance(current, dict) else None
    return current if isinstance(current, dict) else {}


# --------------------------------------------------------------------------- #
# Entry point
# --------------------------------------------------------------------------- #


def import_compose(text: str, *, project_name: str) -> ComposeImport:
    """Turn a docker-compose file into stacks (see the module docstring for the rules).

    Raises :class:`podwarden.engine.errors.ValidationError` for malformed YAML
    (with line/column), a file without a ``services`` mapping, a bad service
    (named in the message and in ``errors`` as ``services.<name>…``) or an unusable
    project name.
    """
    project = normalise_dns_label(project_name if isinstance(project_name, str) else "", fallback="")
    if not project:
        raise ValidationError(
            "The project name must contain letters or digits.",
            errors={"project_name": "must contain letters or digits"},
        )
    document = load_yaml_document(text, what="Compose", loader=_COMPOSE_LOADER)
    check_document_size(document, what="Compose file")
    if not isinstance(document, dict):
        raise _file_error("", f"expected a mapping with 'services', got {type(document).__name__}")
    try:
        return _Importer(document, project).run()
    except ValidationError:
        raise
    except _ServiceError as exc:  # pragma: no cover - every path wraps these with the service name
        raise _file_error(exc.path, exc.reason) from exc
    except RecursionError as exc:
        raise _file_error("", "the file is nested too deeply") from exc
    except Exception as exc:  # odd shapes we did not foresee still end as a validation error
        raise _file_error(
            "", f"the file could not be imported ({type(exc).__name__}: {_short(str(exc))})"
        ) from exc
