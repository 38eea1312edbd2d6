"""Kubeconfig documents: parse, validate, minimise and rewrite them.

PodWarden keeps one kubeconfig per cluster, encrypted in its database, so a
kubeconfig must be *self-contained*: the CA, client certificate and key are
inline (``*-data``), credentials are embedded (a client certificate and key, a
bearer token, or a user name and password). Anything that needs the local
machine — ``certificate-authority: /path``, ``tokenFile``, ``exec`` and
``auth-provider`` plugins — is refused with a :class:`ValidationError` that
names the field and says what to do instead.

Everything here is pure except :func:`load_kubeconfig_file` and
:func:`contexts_from_file`, which read a local file (``~/.kube/config``) and
inline the files it refers to, as ``kubectl config view --flatten`` does.

Field paths in errors look like ``clusters[k3s].cluster.server`` or
``users[admin].user.client-key-data``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from podwarden.engine.errors import NotFoundError, ValidationError
from podwarden.engine.security.crypto import SecretValue

__all__ = [
    "MAX_KUBECONFIG_CHARS",
    "ContextChoice",
    "Credentials",
    "KubeContext",
    "ParsedKubeconfig",
    "ServerAddress",
    "contexts_from_file",
    "default_kubeconfig_path",
    "load_document",
    "load_kubeconfig_file",
    "minimal_kubeconfig",
    "parse_kubeconfig",
    "rewrite_server",
]

MAX_KUBECONFIG_CHARS: Final = 512 * 1024
_FIELD: Final = "kubeconfig"
_FLATTEN_HINT: Final = (
    "PodWarden stores the kubeconfig in its database and cannot keep references to files on this "
    "machine; embed the data instead (`kubectl config view --raw --minify --flatten` does that)."
)
_PLUGIN_HINT: Final = (
    "PodWarden needs embedded credentials: a client certificate and key, a bearer token (for example "
    "a service account token) or a user name and password."
)


@dataclass(frozen=True, slots=True)
class KubeContext:
    """One entry of ``contexts``: which cluster, which user, which default namespace."""

    name: str
    cluster: str
    user: str | None
    namespace: str | None


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """The API server: ``url`` as written (without a trailing slash), split up."""

    url: str
    scheme: Literal["https", "http"]
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Credentials:
    """How PodWarden authenticates. ``methods`` lists what is present:
    ``client-certificate``, ``token``, ``basic``."""

    methods: tuple[str, ...]
    client_certificate_pem: str | None = None
    client_key_pem: SecretValue | None = field(default=None, repr=False)
    token: SecretValue | None = field(default=None, repr=False)
    username: str | None = None
    password: SecretValue | None = field(default=None, repr=False)
    certificate_subject: str | None = None
    certificate_not_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class ParsedKubeconfig:
    """A validated kubeconfig with one chosen context resolved."""

    contexts: tuple[KubeContext, ...]
    current_context: str | None
    context: KubeContext
    server: ServerAddress
    ca_pem: str | None
    insecure_skip_tls_verify: bool
    tls_server_name: str | None
    proxy_url: str | None
    credentials: Credentials
    warnings: tuple[str, ...] = ()
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def context_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.contexts)


@dataclass(frozen=True, slots=True)
class ContextChoice:
    """A context of a local kubeconfig file, for a "pick a context" dialog.

    ``problem`` says why PodWarden cannot use it (None: usable).
    """

    name: str
    cluster: str
    user: str | None
    namespace: str | None
    server: str | None
    current: bool
    problem: str | None


# -- parsing -----------------------------------------------------------------------------------
def parse_kubeconfig(text: str | SecretValue, context: str | None = None) -> ParsedKubeconfig:
    """Parse and validate a kubeconfig; resolve ``context`` (given, else
    ``current-context``, else the only one).

    Raises :class:`ValidationError` with a field path for anything PodWarden cannot use.
    """
    return _resolve(load_document(text), context)


def load_document(text: str | SecretValue) -> dict[str, Any]:
    """YAML → the kubeconfig mapping, with the top-level shape checked."""
    raw = text.reveal() if isinstance(text, SecretValue) else text
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("The kubeconfig is empty.", {_FIELD: "empty"})
    if len(raw) > MAX_KUBECONFIG_CHARS:
        raise ValidationError(
            f"The kubeconfig is {len(raw):,} characters long; PodWarden accepts up to "
            f"{MAX_KUBECONFIG_CHARS:,}. Paste a single-context kubeconfig.",
            {_FIELD: "too long"},
        )
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ValidationError(
            f"The kubeconfig is not valid YAML{where}: {problem}.", {_FIELD: "invalid YAML"}
        ) from exc
    if not isinstance(doc, dict):
        raise ValidationError(
            "The kubeconfig is not a YAML mapping with clusters, users and contexts.",
            {_FIELD: "not a mapping"},
        )
    kind = doc.get("kind")
    if kind is not None and kind != "Config":
        raise ValidationError(
            f"This YAML is a {kind!s}, not a kubeconfig (kind: Config).", {"kind": "not Config"}
        )
    return doc


def _resolve(doc: Mapping[str, Any], wanted: str | None) -> ParsedKubeconfig:
    contexts = _contexts(doc)
    current = _optional_name(doc.get("current-context"), "current-context")
    chosen = _choose(contexts, current, wanted)
    warnings: list[str] = []

    cluster_path = f"clusters[{chosen.cluster}].cluster"
    cluster = _named_entry(doc, "clusters", "cluster", chosen.cluster, f"contexts[{chosen.name}]")
    server = _server(cluster.get("server"), f"{cluster_path}.server")
    insecure = cluster.get("insecure-skip-tls-verify", False)
    if not isinstance(insecure, bool):
        raise ValidationError(
            f"{cluster_path}.insecure-skip-tls-verify is true or false.",
            {f"{cluster_path}.insecure-skip-tls-verify": "not a boolean"},
        )
    _refuse_file(cluster, "certificate-authority", cluster_path)
    ca_pem: str | None = None
    if cluster.get("certificate-authority-data") not in (None, ""):
        ca_pem = _pem_certificates(
            cluster["certificate-authority-data"], f"{cluster_path}.certificate-authority-data"
        )
    if ca_pem is not None and insecure:
        raise ValidationError(
            f"Cluster {chosen.cluster} has both a CA certificate and insecure-skip-tls-verify; "
            "keep one of them (the CA, preferably).",
            {f"{cluster_path}.insecure-skip-tls-verify": "conflicts with certificate-authority-data"},
        )
    if server.scheme == "http":
        warnings.append(
            f"The API server {server.url} is reached over plain HTTP: credentials travel unencrypted."
        )
    elif insecure:
        warnings.append(
            f"TLS certificate checks are off for {server.url} (insecure-skip-tls-verify): anyone on the "
            "path could pose as the cluster."
        )
    tls_server_name = _optional_text(cluster.get("tls-server-name"), f"{cluster_path}.tls-server-name")
    proxy_url = _optional_text(cluster.get("proxy-url"), f"{cluster_path}.proxy-url")

    if chosen.user is None:
        raise ValidationError(
            f"Context {chosen.name} names no user, so PodWarden would have no credentials. {_PLUGIN_HINT}",
            {f"contexts[{chosen.name}].context.user": "missing"},
        )
    user = _named_entry(doc, "users", "user", chosen.user, f"contexts[{chosen.name}]")
    credentials = _credentials(user, f"users[{chosen.user}].user", warnings)
    return ParsedKubeconfig(
        contexts=contexts,
        current_context=current,
        context=chosen,
        server=server,
        ca_pem=ca_pem,
        insecure_skip_tls_verify=insecure,
        tls_server_name=tls_server_name,
        proxy_url=proxy_url,
        credentials=credentials,
        warnings=tuple(warnings),
        document=doc,
    )


def _contexts(doc: Mapping[str, Any]) -> tuple[KubeContext, ...]:
    entries = doc.get("contexts")
    if not entries:
        raise ValidationError("The kubeconfig has no contexts.", {"contexts": "missing"})
    if not isinstance(entries, list):
        raise ValidationError("contexts must be a list.", {"contexts": "not a list"})
    result: list[KubeContext] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        path = f"contexts[{index}]"
        if not isinstance(entry, dict):
            raise ValidationError(f"{path} is not a mapping with name and context.", {path: "not a mapping"})
        name = _name(entry.get("name"), f"{path}.name")
        if name in seen:
            raise ValidationError(
                f"The kubeconfig has two contexts named {name}.", {f"contexts[{name}]": "duplicate"}
            )
        seen.add(name)
        body = entry.get("context")
        if not isinstance(body, dict):
            raise ValidationError(
                f"Context {name} has no context section (cluster, user).",
                {f"contexts[{name}].context": "missing"},
            )
        result.append(
            KubeContext(
                name=name,
                cluster=_name(body.get("cluster"), f"contexts[{name}].context.cluster"),
                user=_optional_name(body.get("user"), f"contexts[{name}].context.user"),
                namespace=_optional_name(body.get("namespace"), f"contexts[{name}].context.namespace"),
            )
        )
    return tuple(result)


def _choose(contexts: tuple[KubeContext, ...], current: str | None, wanted: str | None) -> KubeContext:
    by_name = {c.name: c for c in contexts}
    names = ", ".join(by_name)
    if wanted is not None:
        if wanted not in by_name:
            raise ValidationError(
                f"Context {wanted} is not in this kubeconfig; it has: {names}.", {"context": "not found"}
            )
        return by_name[wanted]
    if current:
        if current not in by_name:
            raise ValidationError(
                f"current-context names {current}, which is not one of the contexts ({names}).",
                {"current-context": "not found"},
            )
        return by_name[current]
    if len(contexts) == 1:
        return contexts[0]
    raise ValidationError(
        f"The kubeconfig has {len(contexts)} contexts ({names}) and no current-context; choose one.",
        {"context": "choose one"},
    )


def _named_entry(
    doc: Mapping[str, Any], section: str, body_key: str, name: str, referrer: str
) -> dict[str, Any]:
    entries = doc.get(section)
    if entries is not None and not isinstance(entries, list):
        raise ValidationError(f"{section} must be a list.", {section: "not a list"})
    for entry in entries or []:
        if isinstance(entry, dict) and _scalar_text(entry.get("name")) == name:
            body = entry.get(body_key)
            if body is None:
                body = {}
            if not isinstance(body, dict):
                raise ValidationError(
                    f"{section}[{name}].{body_key} is not a mapping.",
                    {f"{section}[{name}].{body_key}": "not a mapping"},
                )
            return body
    singular = section[:-1]
    raise ValidationError(
        f"{referrer} refers to {singular} {name}, which is not in the kubeconfig's {section}.",
        {f"{referrer}.context.{singular}": "not found"},
    )


def _server(value: object, path: str) -> ServerAddress:
    text = _scalar_text(value)
    if not text:
        raise ValidationError("The cluster has no server address.", {path: "missing"})
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(
            f"The server address {text} is not an https:// (or http://) URL with a host.",
            {path: "not an http(s) URL"},
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"The server address {text} has a bad port.", {path: "bad port"}) from exc
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValidationError(
            f"The server address {text} must not carry a query, fragment or user name.",
            {path: "unexpected URL parts"},
        )
    return ServerAddress(
        url=urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", "")),
        scheme="https" if scheme == "https" else "http",
        host=parts.hostname,
        port=port if port is not None else (443 if scheme == "https" else 80),
    )


def _credentials(user: Mapping[str, Any], path: str, warnings: list[str]) -> Credentials:
    for plugin, label in (("exec", "an exec plugin"), ("auth-provider", "an auth-provider plugin")):
        if user.get(plugin):
            command = ""
            body = user.get(plugin)
            if isinstance(body, dict):
                command = _scalar_text(body.get("command")) or _scalar_text(body.get("name")) or ""
            what = f"{label} ({command})" if command else label
            raise ValidationError(
                f"The user at {path} gets its credentials from {what}, which PodWarden cannot run. "
                f"{_PLUGIN_HINT}",
                {f"{path}.{plugin}": "plugins are not supported"},
            )
    for file_key in ("client-certificate", "client-key"):
        _refuse_file(user, file_key, path)
    if user.get("tokenFile") and not user.get("token"):
        raise ValidationError(
            f"{path}.tokenFile points to a file ({user['tokenFile']}). {_FLATTEN_HINT}",
            {f"{path}.tokenFile": "file references cannot be stored"},
        )

    methods: list[str] = []
    cert_pem: str | None = None
    key_pem: SecretValue | None = None
    subject: str | None = None
    not_after: datetime | None = None
    has_cert = user.get("client-certificate-data") not in (None, "")
    has_key = user.get("client-key-data") not in (None, "")
    if has_cert != has_key:
        missing = "client-key-data" if has_cert else "client-certificate-data"
        raise ValidationError(
            f"The user at {path} has a client {'certificate' if has_cert else 'key'} but no "
            f"{missing}; both are needed.",
            {f"{path}.{missing}": "missing"},
        )
    if has_cert:
        cert_pem = _pem_certificates(user["client-certificate-data"], f"{path}.client-certificate-data")
        cert = x509.load_pem_x509_certificates(cert_pem.encode())[0]
        key_pem = _pem_private_key(user["client-key-data"], f"{path}.client-key-data", cert)
        subject = cert.subject.rfc4514_string()
        not_after = cert.not_valid_after_utc
        if not_after <= datetime.now(UTC):
            warnings.append(
                f"The client certificate ({subject}) expired on {not_after:%Y-%m-%d}; the cluster "
                "will reject it. Fetch a fresh kubeconfig."
            )
        methods.append("client-certificate")

    token: SecretValue | None = None
    if user.get("token") not in (None, ""):
        raw_token = user["token"]
        if not isinstance(raw_token, str) or any(c.isspace() for c in raw_token.strip()):
            raise ValidationError(
                f"The token at {path}.token is not a single line of text.", {f"{path}.token": "malformed"}
            )
        token = SecretValue(raw_token.strip())
        methods.append("token")

    username = _optional_text(user.get("username"), f"{path}.username")
    password: SecretValue | None = None
    if username is not None or user.get("password") not in (None, ""):
        raw_password = user.get("password")
        if username is None or not isinstance(raw_password, str) or not raw_password:
            raise ValidationError(
                f"Basic authentication at {path} needs both username and password.",
                {f"{path}.{'username' if username is None else 'password'}": "missing"},
            )
        password = SecretValue(raw_password)
        methods.append("basic")

    if not methods:
        raise ValidationError(
            f"The user at {path} has no credentials. {_PLUGIN_HINT}", {path: "no credentials"}
        )
    return Credentials(
        methods=tuple(methods),
        client_certificate_pem=cert_pem,
        client_key_pem=key_pem,
        token=token,
        username=username,
        password=password,
        certificate_subject=subject,
        certificate_not_after=not_after,
    )


def _refuse_file(section: Mapping[str, Any], key: str, path: str) -> None:
    if section.get(key) and section.get(f"{key}-data") in (None, ""):
        raise ValidationError(
            f"{path}.{key} points to a file ({section[key]}). {_FLATTEN_HINT}",
            {f"{path}.{key}": "file references cannot be stored"},
        )


def _b64(value: object, path: str, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValidationError(f"{path} must be base64 text ({what}).", {path: "not text"})
    compact = "".join(value.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(
            f"{path} is not valid base64; it should hold the base64 of {what}.", {path: "bad base64"}
        ) from exc


def _pem_certificates(value: object, path: str) -> str:
    data = _b64(value, path, "a PEM certificate")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValidationError(
            f"{path} decodes, but not to a PEM certificate (-----BEGIN CERTIFICATE-----).",
            {path: "not a PEM certificate"},
        )
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValidationError(
            f"{path} holds a PEM block that is not a readable X.509 certificate.",
            {path: "unreadable certificate"},
        ) from exc
    return data.decode("ascii", errors="replace")


def _pem_private_key(value: object, path: str, cert: x509.Certificate) -> SecretValue:
    data = _b64(value, path, "a PEM private key")
    if b"PRIVATE KEY-----" not in data:
        raise ValidationError(
            f"{path} decodes, but not to a PEM private key.", {path: "not a PEM private key"}
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # encrypted
        raise ValidationError(
            f"{path} is an encrypted private key; PodWarden needs it unencrypted.", {path: "encrypted key"}
        ) from exc
    except (ValueError, binascii.Error) as exc:
        raise ValidationError(f"{path} is not a readable private key.", {path: "unreadable key"}) from exc
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise ValidationError(
            f"{path} does not belong to the client certificate next to it.", {path: "key does not match"}
        )
    return SecretValue(data.decode("ascii"))


def _scalar_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _name(value: object, path: str) -> str:
    text = _scalar_text(value)
    if text is None or not text.strip():
        raise ValidationError(f"{path} is missing.", {path: "missing"})
    return text


def _optional_name(value: object, path: str) -> str | None:
    if value is None or value == "":
        return None
    return _name(value, path)


def _optional_text(value: object, path: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{path} must be text.", {path: "not text"})
    return value


# -- writing -------------------------------------------------------------------------------------
def minimal_kubeconfig(parsed: ParsedKubeconfig, context: str | None = None) -> str:
    """A self-contained kubeconfig with one cluster, one user and one context.

    ``context`` picks another context of the same document (default: the parsed one).
    Certificates and keys are re-encoded from what was validated; nothing else is kept.
    """
    if context is not None and context != parsed.context.name:
        parsed = _resolve(parsed.document, context)
    ctx = parsed.context
    cluster: dict[str, Any] = {"server": parsed.server.url}
    if parsed.ca_pem is not None:
        cluster["certificate-authority-data"] = _b64encode(parsed.ca_pem)
    if parsed.insecure_skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
    if parsed.tls_server_name:
        cluster["tls-server-name"] = parsed.tls_server_name
    if parsed.proxy_url:
        cluster["proxy-url"] = parsed.proxy_url
    creds = parsed.credentials
    user: dict[str, Any] = {}
    if creds.client_certificate_pem is not None and creds.client_key_pem is not None:
        user["client-certificate-data"] = _b64encode(creds.client_certificate_pem)
        user["client-key-data"] = _b64encode(creds.client_key_pem.reveal())
    if creds.token is not None:
        user["token"] = creds.token.reveal()
    if creds.username is not None and creds.password is not None:
        user["username"] = creds.username
        user["password"] = creds.password.reveal()
    context_body: dict[str, Any] = {"cluster": ctx.cluster, "user": ctx.user}
    if ctx.namespace:
        context_body["namespace"] = ctx.namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": ctx.cluster, "cluster": cluster}],
        "users": [{"name": ctx.user, "user": user}],
        "contexts": [{"name": ctx.name, "context": context_body}],
        "current-context": ctx.name,
        "preferences": {},
    }
    return str(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))


def rewrite_server(text: str | SecretValue, new_host: str, *, tls_server_name: str | None = None) -> str:
    """Point every cluster of a kubeconfig at ``new_host``, keeping scheme, port and path.

    For a K3s ``/etc/rancher/k3s/k3s.yaml`` fetched from a server, whose server is
    ``https://127.0.0.1:6443``. ``tls_server_name`` (optional) sets the name the
    server certificate is checked against, for addresses not in its SANs.
    """
    host = new_host.strip()
    if not host or any(c in host for c in "/@?# ") or "://" in host:
        raise ValidationError(f"{new_host!r} is not a host name or IP address.", {"host": "invalid"})
    try:
        if isinstance(ipaddress.ip_address(host.strip("[]")), ipaddress.IPv6Address):
            host = f"[{host.strip('[]')}]"
    except ValueError:
        pass
    doc = load_document(text)
    clusters = doc.get("clusters")
    if not isinstance(clusters, list) or not clusters:
        raise ValidationError("The kubeconfig has no clusters to rewrite.", {"clusters": "missing"})
    for index, entry in enumerate(clusters):
        body = entry.get("cluster") if isinstance(entry, dict) else None
        name = _scalar_text(entry.get("name")) if isinstance(entry, dict) else None
        path = f"clusters[{name if name else index}].cluster.server"
        if not isinstance(body, dict):
            raise ValidationError(f"{path} is missing.", {path: "missing"})
        server = _server(body.get("server"), path)
        parts = urlsplit(server.url)
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        body["server"] = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        if tls_server_name:
            body["tls-server-name"] = tls_server_name
    return str(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))


def _b64encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


# -- local files ---------------------------------------------------------------------------------
def default_kubeconfig_path() -> Path:
    """``$KUBECONFIG`` (its first entry) or ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p.strip()), "")
    return Path(first).expanduser() if first else Path("~/.kube/config").expanduser()


def load_kubeconfig_file(path: str | Path | None = None, context: str | None = None) -> ParsedKubeconfig:
    """Read a local kubeconfig, inline the files the chosen context refers to (like
    ``kubectl config view --flatten``) and validate it.

    Relative paths are relative to the kubeconfig's folder. Raises
    :class:`NotFoundError` when the kubeconfig itself is missing and
    :class:`ValidationError` when it or a file it refers to is unusable.
    Pass the result to :func:`minimal_kubeconfig` for the text to store.
    """
    file, doc = _read_file(path)
    return _resolve_local(doc, file.parent, context)


def contexts_from_file(path: str | Path | None = None) -> list[ContextChoice]:
    """The contexts of a local kubeconfig (default ``~/.kube/config``), each with
    whether PodWarden can use it (``problem``)."""
    file, doc = _read_file(path)
    current = _optional_name(doc.get("current-context"), "current-context")
    choices: list[ContextChoice] = []
    for ctx in _contexts(doc):
        problem: str | None = None
        server: str | None = None
        try:
            server = _resolve_local(doc, file.parent, ctx.name).server.url
        except ValidationError as exc:
            problem = exc.message
        choices.append(
            ContextChoice(
                name=ctx.name,
                cluster=ctx.cluster,
                user=ctx.user,
                namespace=ctx.namespace,
                server=server,
                current=ctx.name == current,
                problem=problem,
            )
        )
    return choices


def _read_file(path: str | Path | None) -> tuple[Path, dict[str, Any]]:
    file = Path(path).expanduser() if path is not None else default_kubeconfig_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFoundError("Kubeconfig file", file) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Cannot read the kubeconfig {file}: {exc}.", {"path": "unreadable"}) from exc
    return file, load_document(text)


_FILE_REFS: Final = {
    "clusters": ("cluster", (("certificate-authority", "certificate-authority-data"),)),
    "users": ("user", (("client-certificate", "client-certificate-data"), ("client-key", "client-key-data"))),
}


def _resolve_local(doc: Mapping[str, Any], base: Path, wanted: str | None) -> ParsedKubeconfig:
    """Inline the file references of the chosen context's cluster and user, then resolve."""
    doc = copy.deepcopy(dict(doc))
    chosen = _choose(_contexts(doc), _optional_name(doc.get("current-context"), "current-context"), wanted)
    for section, name in (("clusters", chosen.cluster), ("users", chosen.user)):
        body_key, refs = _FILE_REFS[section]
        for entry in doc.get(section) or []:
            if not isinstance(entry, dict) or _scalar_text(entry.get("name")) != name:
                continue
            body = entry.get(body_key)
            if not isinstance(body, dict):
                continue
            path = f"{section}[{name}].{body_key}"
            for file_key, data_key in refs:
                if body.get(file_key) and body.get(data_key) in (None, ""):
                    data = _read_ref(base, body.pop(file_key), f"{path}.{file_key}")
                    body[data_key] = base64.b64encode(data).decode("ascii")
            if section == "users" and body.get("tokenFile") and not body.get("token"):
                body["token"] = _read_ref(base, body.pop("tokenFile"), f"{path}.tokenFile").decode().strip()
    return _resolve(doc, chosen.name)


def _read_ref(base: Path, ref: object, path: str) -> bytes:
    if not isinstance(ref, str):
        raise ValidationError(f"{path} must be a file path.", {path: "not a path"})
    target = (base / Path(ref).expanduser()).resolve()
    try:
        return target.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"{path} refers to {target}, which cannot be read ({exc.strerror or exc}).",
            {path: "unreadable file"},
        ) from exc
