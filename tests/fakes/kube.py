"""The Kubernetes API on loopback for tests: kmock 0.8's emulator, with its gaps closed.

``kmock.KubernetesEmulator`` keeps objects in memory and serves create/read/list/
patch/delete over a real aiohttp server. PodWarden needs more than it does, so
:class:`PodWardenEmulator` (a subclass) adds, each for a gap met in kmock 0.8:

============================================  ==============================================
kmock 0.8 gap                                  what the subclass does
============================================  ==============================================
``limit``/``continue`` ignored on lists         pages lists (sorted by namespace/name), with
                                               ``metadata.continue`` and ``remainingItemCount``
``labelSelector`` ignored                       filters lists by ``k=v``, ``k!=v``, ``k``, ``!k``
``/api/v1/namespaces`` paths crash (500:        serves namespaces itself (list, get, create,
its path parser expects a name after            delete, apply)
``namespaces``)
``…/pods/{name}/log`` answers the pod JSON      serves logs from :attr:`logs`: ``tailLines``,
(subresource ignored)                           ``follow=true`` as a chunked stream fed by
                                               :meth:`append_log`
server-side apply (PATCH ``apply-patch+yaml``)  creates the object when missing, as a real
of a missing object → 404                       API server does
``dryRun=All`` ignored (the change is stored)   answers without storing
no uid/resourceVersion/creationTimestamp        sets uid and creationTimestamp on creation,
                                               a growing resourceVersion on every write
``/version/`` (trailing slash, what the         answers it like ``/version``
client's ``VersionApi`` calls) → 404
a list of a resource with no objects yet → 404  answers an empty list
no authentication at all                        ``token=`` makes every request need
                                               ``Authorization: Bearer <token>`` (else 401)
no RBAC                                         ``forbidden`` resources answer 403 with a
                                               Kubernetes-style Status
============================================  ==============================================

:func:`tls_material` and :func:`tls_server` serve the same emulator over HTTPS with
a test CA that checks client certificates, for kubeconfigs with certificate data.

Usage::

    async def test_x(kube_api: KubeAPI) -> None:
        kube_api.add("nodes", make_node("n1", gpus=2))
        client = KubeClient(kube_api.kubeconfig(), request_timeout=5)
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import ssl
import tempfile
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.test_utils
import aiohttp.web
import attrs
import kmock
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TEST_TOKEN = "pw-test-token-0123456789abcdef"
NAMESPACES = kmock.resource("", "v1", "namespaces")
VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.5+k3s1",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-10-01T00:00:00Z",
    "goVersion": "go1.24.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_GROUPS = {"storageclasses": "storage.k8s.io", "deployments": "apps", "daemonsets": "apps", "jobs": "batch"}
_VERSIONS = {"storage.k8s.io": "v1", "apps": "v1", "batch": "v1"}
_CLUSTER_SCOPED = {"nodes", "namespaces", "storageclasses", "persistentvolumes"}


def resource_for(plural: str) -> kmock.resource:
    group = _GROUPS.get(plural, "")
    return kmock.resource(group, _VERSIONS.get(group, "v1"), plural)


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response(
        {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        },
        status=code,
    )


def _encode_continue(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_continue(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not text.startswith("offset:"):
        return None
    try:
        return int(text.split(":", 1)[1])
    except ValueError:
        return None


def _match_labels(labels: Mapping[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "==" in term or "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def page_items(
    items: list[dict[str, Any]], params: Mapping[str, str]
) -> dict[str, Any] | aiohttp.web.Response:
    """Label selection and limit/continue paging over an already-sorted list."""
    selector = params.get("labelSelector")
    if selector:
        items = [i for i in items if _match_labels((i.get("metadata") or {}).get("labels") or {}, selector)]
    offset = 0
    if params.get("continue"):
        decoded = _decode_continue(params["continue"])
        if decoded is None:
            raise kmock.KubernetesError(
                status=410,
                reason="Expired",
                message="The provided continue parameter is too old or malformed.",
            )
        offset = decoded
    meta: dict[str, Any] = {"resourceVersion": "1"}
    limit = int(params.get("limit") or 0)
    if limit > 0 and offset + limit < len(items):
        page = items[offset : offset + limit]
        meta["continue"] = _encode_continue(offset + limit)
        meta["remainingItemCount"] = len(items) - offset - limit
    else:
        page = items[offset:]
    return {"apiVersion": "v1", "metadata": meta, "items": page}


def _merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _sort_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


@attrs.define(kw_only=True)
class PodWardenEmulator(kmock.KubernetesEmulator):
    """kmock's emulator plus paging, label selectors, namespaces, logs, apply-create,
    ``/version/``, bearer-token auth and 403s (see the module docstring)."""

    token: str | None = None
    forbidden: set[str] = attrs.field(factory=set)  # plurals that answer 403
    logs: dict[tuple[str, str], list[str]] = attrs.field(factory=dict)
    seen: list[SeenRequest] = attrs.field(factory=list)  # every request, in order
    failures: list[tuple[int, dict[str, str]]] = attrs.field(factory=list)  # queued error answers
    log_streams_opened: int = 0
    log_streams_closed: int = 0
    page_requests: int = 0
    resource_version: int = 0
    _log_events: dict[tuple[str, str], asyncio.Event] = attrs.field(
        factory=lambda: defaultdict(asyncio.Event), init=False
    )
    _ended_logs: set[tuple[str, str]] = attrs.field(factory=set, init=False)

    # -- feeding --------------------------------------------------------------------------
    def add(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Put an object straight into the emulator's store."""
        meta = obj.setdefault("metadata", {})
        namespace = None if plural in _CLUSTER_SCOPED else meta.setdefault("namespace", "default")
        self.objects[resource_for(plural), namespace, meta["name"]] = obj
        return obj

    def add_many(self, plural: str, objs: Iterable[dict[str, Any]]) -> None:
        for obj in objs:
            self.add(plural, obj)

    async def append_log(self, namespace: str, pod: str, *lines: str) -> None:
        """Add lines to a pod's log; followers get them at once."""
        self.logs.setdefault((namespace, pod), []).extend(lines)
        event = self._log_events[(namespace, pod)]
        event.set()
        self._log_events[(namespace, pod)] = asyncio.Event()
        await asyncio.sleep(0)

    async def end_log(self, namespace: str, pod: str) -> None:
        """The container exited: followers' streams end."""
        self._ended_logs.add((namespace, pod))
        await self.append_log(namespace, pod)

    def fail_next(self, status: int, *, count: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``count`` requests with this HTTP status (a Kubernetes Status body)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.failures.extend([(status, headers)] * count)

    def requests_to(self, path: str, method: str = "GET") -> list[SeenRequest]:
        return [r for r in self.seen if r.path == path and r.method == method]

    # -- the HTTP entry point -------------------------------------------------------------
    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        self.seen.append(
            SeenRequest(
                raw_request.method,
                raw_request.path,
                dict(raw_request.query),
                raw_request.headers.get("Content-Type", ""),
            )
        )
        if self.failures:
            status, headers = self.failures.pop(0)
            reason = {409: "AlreadyExists", 410: "Expired", 429: "TooManyRequests"}.get(
                status, "InternalError"
            )
            response = _status(status, reason, f"injected failure {status}")
            response.headers.update(headers)
            return response
        if self.token is not None and raw_request.headers.get("Authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        path = raw_request.path.rstrip("/") or "/"
        parts = path.strip("/").split("/")
        plural = _plural_of(parts)
        if plural is not None and plural in self.forbidden:
            verb = {"GET": "list" if len(parts) % 2 == 1 else "get", "DELETE": "delete"}.get(
                raw_request.method, "patch"
            )
            return _status(
                403,
                "Forbidden",
                f'{plural} is forbidden: User "podwarden" cannot {verb} resource "{plural}" in API group '
                '"" at the cluster scope',
            )
        if path == "/version":
            return aiohttp.web.json_response(VERSION)
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
            return await self._namespaces(raw_request, parts[3] if len(parts) == 4 else None)
        if (
            len(parts) == 7
            and parts[:3] == ["api", "v1", "namespaces"]
            and parts[4] == "pods"
            and parts[6] == "log"
        ):
            return await self._log(raw_request, parts[3], parts[5])
        return await super().__call__(raw_request)

    # -- lists: selectors and paging ------------------------------------------------------
    async def _serve_list(self, request: kmock.Request) -> Any:
        # kmock's own list scans every object twice per request and 404s a resource
        # without objects; one scan here, then selection and paging.
        self.page_requests += 1
        items = [
            obj.raw
            for (resource, namespace, _), obj in self.objects.items()
            if resource == request.resource
            and (request.namespace is None or namespace == request.namespace)
            and not obj.deleted
        ]
        items.sort(key=_sort_key)
        return page_items(items, request.params)

    # -- server-side apply creates -------------------------------------------------------
    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource is None or request.action not in (
            kmock.action.CREATE,
            kmock.action.UPDATE,
            kmock.action.DELETE,
        ):
            return await super()._handle(request)
        content_type = (request.headers or {}).get("Content-Type", "")
        key = (request.resource, request.namespace, request.name)
        current = None
        if request.name is not None and key in self.objects and not self.objects[key].deleted:
            current = self.objects[key].raw
        if request.params.get("dryRun") == "All":  # kmock stores dry runs; answer without storing
            return self._dry_run(request, current, apply="apply-patch" in content_type)
        if isinstance(request.data, dict) and request.action != kmock.action.DELETE:
            meta = request.data.setdefault("metadata", {})
            self.resource_version += 1
            meta["resourceVersion"] = str(self.resource_version)
            if current is None:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if request.action == kmock.action.UPDATE and "apply-patch" in content_type and current is None:
            async with self._lock:  # server-side apply creates what is missing
                if key not in self.objects:
                    self.objects[key] = dict(request.data)
                else:
                    self.objects[key].create(dict(request.data))
        return await super()._handle(request)

    def _dry_run(
        self, request: kmock.Request, current: dict[str, Any] | None, *, apply: bool
    ) -> aiohttp.web.Response:
        if request.action == kmock.action.DELETE:
            if current is None:
                return _status(404, "NotFound", f'{request.resource.plural} "{request.name}" not found')
            return aiohttp.web.json_response(current)
        if request.action == kmock.action.UPDATE and current is None and not apply:
            return _status(404, "NotFound", f'{request.resource.plural} "{request.name}" not found')
        if request.action == kmock.action.CREATE and current is not None:
            return _status(409, "AlreadyExists", f'{request.resource.plural} "{request.name}" already exists')
        return aiohttp.web.json_response(_merge(current or {}, request.data or {}))

    # -- namespaces -----------------------------------------------------------------------
    async def _namespaces(self, raw: aiohttp.web.BaseRequest, name: str | None) -> aiohttp.web.StreamResponse:
        def stored(ns: str) -> dict[str, Any] | None:
            key = (NAMESPACES, None, ns)
            if key in self.objects and not self.objects[key].deleted:
                return self.objects[key].raw
            return None

        if name is None and raw.method == "GET":
            items = sorted(
                (o.raw for (res, _, _), o in self.objects.items() if res == NAMESPACES and not o.deleted),
                key=_sort_key,
            )
            try:
                return aiohttp.web.json_response(page_items(items, raw.query))
            except kmock.KubernetesError as exc:
                return _status(exc.status, exc.reason or "", exc.message or "")
        if name is None and raw.method == "POST":
            body = await raw.json()
            ns = str(body.get("metadata", {}).get("name", ""))
            if stored(ns) is not None:
                return _status(409, "AlreadyExists", f'namespaces "{ns}" already exists')
            return self._new_namespace(body, dry_run=raw.query.get("dryRun") == "All")
        assert name is not None
        current = stored(name)
        if raw.method == "GET":
            if current is None:
                return _status(404, "NotFound", f'namespaces "{name}" not found')
            return aiohttp.web.json_response(current)
        if raw.method == "PATCH":
            body = await raw.json()
            if current is None:
                if "apply-patch" not in raw.headers.get("Content-Type", ""):
                    return _status(404, "NotFound", f'namespaces "{name}" not found')
                return self._new_namespace(body, dry_run=raw.query.get("dryRun") == "All")
            if raw.query.get("dryRun") == "All":
                return aiohttp.web.json_response(_merge(current, body))
            self.objects[NAMESPACES, None, name].patch(body)
            return aiohttp.web.json_response(self.objects[NAMESPACES, None, name].raw)
        if raw.method == "DELETE":
            if current is None:
                return _status(404, "NotFound", f'namespaces "{name}" not found')
            self.objects[NAMESPACES, None, name].delete()
            return aiohttp.web.json_response(current)
        return _status(405, "MethodNotAllowed", "method not allowed")

    def _new_namespace(self, body: dict[str, Any], *, dry_run: bool) -> aiohttp.web.Response:
        body.setdefault("status", {"phase": "Active"})
        meta = body.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if not dry_run:
            self.resource_version += 1
            meta["resourceVersion"] = str(self.resource_version)
            self.add("namespaces", body)
        return aiohttp.web.json_response(body, status=201)

    # -- pod logs --------------------------------------------------------------------------
    async def _log(
        self, raw: aiohttp.web.BaseRequest, namespace: str, pod: str
    ) -> aiohttp.web.StreamResponse:
        key = (namespace, pod)
        if key not in self.logs and (resource_for("pods"), namespace, pod) not in self.objects:
            return _status(404, "NotFound", f'pods "{pod}" not found')
        lines = self.logs.get(key, [])
        tail = raw.query.get("tailLines")
        start = max(0, len(lines) - int(tail)) if tail is not None else 0
        if raw.query.get("follow") != "true":
            text = "".join(f"{line}\n" for line in lines[start:])
            return aiohttp.web.Response(text=text, content_type="text/plain")
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(raw)
        self.log_streams_opened += 1
        try:
            sent = start
            while True:
                waiter = self._log_events[key]
                current = self.logs.get(key, [])
                if sent < len(current):
                    await response.write("".join(f"{line}\n" for line in current[sent:]).encode())
                    sent = len(current)
                if key in self._ended_logs:
                    await response.write_eof()
                    return response
                await waiter.wait()
        finally:
            self.log_streams_closed += 1


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    content_type: str


def _plural_of(parts: list[str]) -> str | None:
    if parts[:1] == ["api"] and len(parts) >= 3:
        rest = parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        rest = parts[3:]
    else:
        return None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        return rest[2]
    return rest[0]


# -- objects ------------------------------------------------------------------------------------
def make_node(
    name: str,
    *,
    gpus: int = 0,
    cpu: str = "4",
    memory: str = "16Gi",
    ready: bool = True,
    roles: Iterable[str] = (),
    address: str = "10.0.0.1",
) -> dict[str, Any]:
    capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "95Gi"}
    if gpus:
        capacity["nvidia.com/gpu"] = str(gpus)
        allocatable["nvidia.com/gpu"] = str(gpus)
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    labels.update({f"node-role.kubernetes.io/{role}": "true" for role in roles})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "creationTimestamp": "2025-01-02T03:04:05Z"},
        "spec": {"podCIDR": "10.42.0.0/24"},
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "KubeletNotReady",
                    "message": "kubelet is posting ready status" if ready else "container runtime is down",
                    "lastTransitionTime": "2025-01-02T03:05:00Z",
                },
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.33.5+k3s1",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://2.0.5-k3s2",
            },
        },
    }


def make_pod(
    namespace: str, name: str, *, node: str = "n1", phase: str = "Running", **labels: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels) or {"app": name.rsplit("-", 1)[0]},
            "creationTimestamp": "2025-01-02T04:00:00Z",
            "ownerReferences": [{"kind": "ReplicaSet", "name": f"{name}-rs", "controller": True}],
        },
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "nginx:1.27"}]},
        "status": {
            "phase": phase,
            "podIP": "10.42.0.9",
            "containerStatuses": [
                {"name": "main", "ready": phase == "Running", "restartCount": 1, "state": {"running": {}}}
            ],
        },
    }


def make_event(
    namespace: str, name: str, *, reason: str, message: str, kind: str = "Pod", obj: str = "web-1",
    type_: str = "Normal", last: str = "2025-01-02T04:00:00Z", count: int = 1,
) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": kind, "name": obj, "namespace": namespace},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": last,
        "lastTimestamp": last,
        "source": {"component": "kubelet"},
    }


def make_storage_class(name: str, *, default: bool = False) -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": "rancher.io/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def make_namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name},
        "status": {"phase": "Active"},
    }


# -- kubeconfigs --------------------------------------------------------------------------------
def kubeconfig_text(
    server: str,
    *,
    token: str | None = TEST_TOKEN,
    ca_pem: bytes | None = None,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    context: str = "kmock",
    namespace: str | None = None,
) -> str:
    cluster: dict[str, Any] = {"server": server.rstrip("/")}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user: dict[str, Any] = {}
    if token is not None:
        user["token"] = token
    if client_cert_pem is not None and client_key_pem is not None:
        user["client-certificate-data"] = base64.b64encode(client_cert_pem).decode()
        user["client-key-data"] = base64.b64encode(client_key_pem).decode()
    ctx: dict[str, Any] = {"cluster": f"{context}-cluster", "user": f"{context}-user"}
    if namespace:
        ctx["namespace"] = namespace
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": f"{context}-cluster", "cluster": cluster}],
            "users": [{"name": f"{context}-user", "user": user}],
            "contexts": [{"name": context, "context": ctx}],
            "current-context": context,
        },
        sort_keys=False,
    )


# -- TLS ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TlsMaterial:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate (all PEM)."""

    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes
    client_cert_pem: bytes
    client_key_pem: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False, san_ip: str | None = None,
    organisation: str | None = None, client: bool = False,
) -> x509.Certificate:  # fmt: skip
    attrs_ = [x509.NameAttribute(NameOID.COMMON_NAME, subject)]
    if organisation:
        attrs_.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    name = x509.Name(attrs_)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san_ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip))]), critical=False
        )
    if client:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def tls_material(host: str = "127.0.0.1") -> TlsMaterial:
    ca_key = _key()
    ca = _cert("k3s-server-ca@1700000000", ca_key, None, ca_key, ca=True)
    server_key, client_key = _key(), _key()
    server = _cert("k3s", server_key, ca, ca_key, san_ip=host)
    client = _cert("system:admin", client_key, ca, ca_key, organisation="system:masters", client=True)
    pem = serialization.Encoding.PEM
    return TlsMaterial(
        ca_pem=ca.public_bytes(pem),
        server_cert_pem=server.public_bytes(pem),
        server_key_pem=_pem_key(server_key),
        client_cert_pem=client.public_bytes(pem),
        client_key_pem=_pem_key(client_key),
    )


def server_ssl_context(material: TlsMaterial, folder: Path) -> ssl.SSLContext:
    """Server side: present the server certificate, require a client certificate from the CA."""
    (folder / "server.crt").write_bytes(material.server_cert_pem)
    (folder / "server.key").write_bytes(material.server_key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.crt", folder / "server.key")
    context.load_verify_locations(cadata=material.ca_pem.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def tls_server(emulator: kmock.RawHandler, context: ssl.SSLContext) -> kmock.Server:
    """A kmock server speaking HTTPS with ``context``."""

    class _TlsRawTestServer(aiohttp.test_utils.RawTestServer):
        async def __aenter__(self) -> _TlsRawTestServer:
            await self.start_server(loop=self._loop, ssl=context)
            return self

    return kmock.Server(emulator, server_cls=_TlsRawTestServer)


# -- the fixture --------------------------------------------------------------------------------
@dataclass
class KubeAPI:
    """A running emulator on loopback and how to reach it."""

    emulator: PodWardenEmulator
    url: str
    token: str | None = TEST_TOKEN
    extra: dict[str, Any] = field(default_factory=dict)

    def kubeconfig(self, **kwargs: Any) -> str:
        kwargs.setdefault("token", self.token)
        return kubeconfig_text(self.url, **kwargs)

    def add(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.emulator.add(plural, obj)


@pytest.fixture
async def kube_api() -> AsyncIterator[KubeAPI]:
    """kmock's emulator (with PodWarden's additions) on a loopback port, requiring TEST_TOKEN."""
    async with PodWardenEmulator(token=TEST_TOKEN) as emu, kmock.Server(emu) as srv:
        yield KubeAPI(emulator=emu, url=str(srv.url).rstrip("/"))


@pytest.fixture
async def kube_api_tls() -> AsyncIterator[tuple[KubeAPI, TlsMaterial]]:
    """The same over HTTPS: a test CA, and client certificates instead of a token."""
    material = tls_material()
    with tempfile.TemporaryDirectory() as folder:
        context = server_ssl_context(material, Path(folder))
        async with PodWardenEmulator() as emu, tls_server(emu, context) as srv:
            yield KubeAPI(emulator=emu, url=str(srv.url).rstrip("/"), token=None), material
