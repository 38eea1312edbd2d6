"""The Kubernetes API, through the official ``kubernetes`` client, wrapped once.

This is the only module that imports ``kubernetes``. One :class:`KubeClient` per
cluster, built from that cluster's stored kubeconfig (never from a global
``~/.kube/config`` or the client's process-wide default configuration):

- **Lazy.** Constructing a client only parses the kubeconfig. The ``ApiClient``
  (``new_client_from_config_dict``) is built on the first call, in a worker
  thread; nothing connects at engine start.
- **In threads, with timeouts.** Every call runs with :func:`asyncio.to_thread`
  and the client's ``_request_timeout`` (``Settings.timeouts.kube_request``),
  plus an outer :func:`asyncio.wait_for` as a backstop (DNS lookups are not
  covered by socket timeouts). The client never retries on its own
  (``Configuration.retries = False``): callers decide when to try again.
- **Raw JSON.** Lists and reads use ``_preload_content=False`` and parse the
  JSON here into small records (:mod:`podwarden.engine.schemas.kube`), which is much cheaper than
  the client's generated models for thousands of pods.
- **Key material off the disk.** The client library hands certificates and keys
  to ``ssl`` as file names and would write them to ``/tmp``. Here they go into
  anonymous in-memory files (``memfd``, Linux) or, elsewhere, into a private
  ``0700`` folder that is removed when the client closes.

Errors leave as the engine's tree (``raise … from exc``), naming the cluster:

============================================  =========================================
what happened                                  raised
============================================  =========================================
401 Unauthorized (credentials rejected)        :class:`PermanentServiceError`
403 Forbidden (cluster RBAC says no)           :class:`PermanentServiceError`
404 Not Found                                  :class:`NotFoundError`
409 Conflict / 410 Gone (stale continue)       :class:`ConflictError`
400 / 422 (the cluster rejected the request)   :class:`PermanentServiceError`
429, 5xx, refused, reset, timeouts             :class:`TemporaryServiceError`
TLS certificate check failed                   :class:`PermanentServiceError`
============================================  =========================================

401 and 403 are *not* :class:`PermissionDenied`: that error means the PodWarden
actor's role is too low, and the UI says so. A cluster refusing PodWarden's
stored credentials is an outside system's answer that retrying will not change,
so it is a permanent service error whose message says which of the two it was
(replace the kubeconfig vs. grant the cluster user more rights).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import os
import shutil
import ssl
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, TypeVar, cast
from urllib.parse import quote

import pydantic
import urllib3
import yaml

from podwarden.engine.errors import (
    ConflictError,
    NotFoundError,
    PermanentServiceError,
    PodWardenError,
    TemporaryServiceError,
    ValidationError,
)
from podwarden.engine.parsers.kubeconfig import ParsedKubeconfig, minimal_kubeconfig, parse_kubeconfig
from podwarden.engine.schemas.kube import (
    EventInfo,
    NamespaceInfo,
    NodeInfo,
    PodInfo,
    PodPage,
    ServerVersion,
    StorageClassInfo,
    event_info,
    namespace_info,
    node_info,
    pod_info,
    storage_class_info,
)
from podwarden.engine.schemas.stacks import parse_quantity
from podwarden.engine.security.crypto import SecretValue

__all__ = [
    "FIELD_MANAGER",
    "PAGE_SIZE",
    "SERVICE",
    "KubeClient",
    "NodeRequests",
    "pod_requests",
    "sum_node_requests",
]

SERVICE: Final = "kubernetes"
PAGE_SIZE: Final = 500
FIELD_MANAGER: Final = "podwarden"
MAX_PAGE_SIZE: Final = 5000
_BACKSTOP: Final = 5.0  # seconds on top of the request timeout before the outer wait gives up
_STREAM_CHUNK: Final = 64 * 1024
_MAX_LINE: Final = 1024 * 1024  # a "line" longer than this is cut into pieces
_QUEUE_LINES: Final = 1000  # lines buffered between the reader thread and the consumer
_STOP_POLL: Final = 0.2
_DEFAULT_LOG_BYTES: Final = 4 * 1024 * 1024
_MAX_DETAIL: Final = 300
_USER_AGENT: Final = "PodWarden"

T = TypeVar("T")

# (group, kind) → (plural, namespaced): the kinds PodWarden renders or reads. Others are
# looked up with API discovery (and cached per client).
_KNOWN_KINDS: Final[dict[tuple[str, str], tuple[str, bool]]] = {
    ("", "Namespace"): ("namespaces", False),
    ("", "Node"): ("nodes", False),
    ("", "PersistentVolume"): ("persistentvolumes", False),
    ("", "Pod"): ("pods", True),
    ("", "Service"): ("services", True),
    ("", "ConfigMap"): ("configmaps", True),
    ("", "Secret"): ("secrets", True),
    ("", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("", "ServiceAccount"): ("serviceaccounts", True),
    ("", "Endpoints"): ("endpoints", True),
    ("", "Event"): ("events", True),
    ("", "ResourceQuota"): ("resourcequotas", True),
    ("", "LimitRange"): ("limitranges", True),
    ("apps", "Deployment"): ("deployments", True),
    ("apps", "DaemonSet"): ("daemonsets", True),
    ("apps", "StatefulSet"): ("statefulsets", True),
    ("apps", "ReplicaSet"): ("replicasets", True),
    ("batch", "Job"): ("jobs", True),
    ("batch", "CronJob"): ("cronjobs", True),
    ("networking.k8s.io", "Ingress"): ("ingresses", True),
    ("networking.k8s.io", "NetworkPolicy"): ("networkpolicies", True),
    ("networking.k8s.io", "IngressClass"): ("ingressclasses", False),
    ("discovery.k8s.io", "EndpointSlice"): ("endpointslices", True),
    ("rbac.authorization.k8s.io", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("rolebindings", True),
    ("rbac.authorization.k8s.io", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("storage.k8s.io", "StorageClass"): ("storageclasses", False),
    ("policy", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("autoscaling", "HorizontalPodAutoscaler"): ("horizontalpodautoscalers", True),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): ("customresourcedefinitions", False),
}


@dataclass(frozen=True, slots=True)
class _Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return base if name is None else f"{base}/{quote(name, safe='')}"


@dataclass(frozen=True, slots=True)
class _Lib:
    """The parts of the ``kubernetes`` package used here."""

    Configuration: Any
    ApiException: Any
    ApiValueError: Any
    ConfigException: Any
    new_client_from_config_dict: Any


@functools.cache
def _lib() -> _Lib:
    """Import ``kubernetes`` on first use: it costs seconds and ~75 MB (all generated
    models), which an engine that never looks inside a cluster should not pay at start."""
    from kubernetes.client import Configuration
    from kubernetes.client.exceptions import ApiException, ApiValueError
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import new_client_from_config_dict

    return _Lib(Configuration, ApiException, ApiValueError, ConfigException, new_client_from_config_dict)


@dataclass(frozen=True, slots=True)
class NodeRequests:
    """Resources requested by pods (one pod, or the sum over a node's pods).

    ``cpu`` in cores, ``memory`` in bytes, ``gpu`` in ``nvidia.com/gpu`` devices.
    """

    cpu: Decimal = Decimal(0)
    memory: Decimal = Decimal(0)
    gpu: Decimal = Decimal(0)
    pods: int = 0

    def __add__(self, other: NodeRequests) -> NodeRequests:
        return NodeRequests(
            self.cpu + other.cpu, self.memory + other.memory, self.gpu + other.gpu, self.pods + other.pods
        )


#: (NodeRequests field, Kubernetes resource name) that scheduling and preflight count.
_REQUESTED: Final = (("cpu", "cpu"), ("memory", "memory"), ("gpu", "nvidia.com/gpu"))
#: Pods in these phases hold no resources any more (what the scheduler and ``kubectl describe node`` skip).
_TERMINATED_PHASES: Final = frozenset({"Succeeded", "Failed"})


def _quantities(resources: object) -> dict[str, Decimal]:
    """A container's (or a pod overhead's) requests: ``requests``, else ``limits``
    (the API server copies a limit into a missing request). Unparsable values count 0."""
    out: dict[str, Decimal] = {}
    if not isinstance(resources, Mapping):
        return out
    requests, limits = resources.get("requests"), resources.get("limits")
    for field_name, key in _REQUESTED:
        for source in (requests, limits):
            value = source.get(key) if isinstance(source, Mapping) else None
            if value is None:
                continue
            with contextlib.suppress(ValueError):
                out[field_name] = parse_quantity(str(value))
            break
    return out


def _container_list(spec: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = spec.get(key)
    return [c for c in items if isinstance(c, Mapping)] if isinstance(items, list) else []


def pod_requests(pod: Mapping[str, Any]) -> NodeRequests:
    """What one pod requests, by the scheduler's rules: per resource the larger of
    the sum over its containers (plus restartable "sidecar" init containers) and
    the largest init container (plus the sidecars started before it), plus the
    pod's ``overhead``. A pod of a terminated phase (Succeeded/Failed) requests nothing."""
    status = pod.get("status")
    if isinstance(status, Mapping) and status.get("phase") in _TERMINATED_PHASES:
        return NodeRequests()
    spec = pod.get("spec")
    if not isinstance(spec, Mapping):
        return NodeRequests(pods=1)
    totals: dict[str, Decimal] = {}
    for field_name, _ in _REQUESTED:
        app = sum(
            (
                _quantities(c.get("resources")).get(field_name, Decimal(0))
                for c in _container_list(spec, "containers")
            ),
            Decimal(0),
        )
        sidecars = Decimal(0)
        init_peak = Decimal(0)
        for init in _container_list(spec, "initContainers"):
            own = _quantities(init.get("resources")).get(field_name, Decimal(0))
            if init.get("restartPolicy") == "Always":  # a sidecar keeps running beside the app
                sidecars += own
                init_peak = max(init_peak, sidecars)
            else:
                init_peak = max(init_peak, sidecars + own)
        overhead = _quantities({"requests": spec.get("overhead")}).get(field_name, Decimal(0))
        totals[field_name] = max(app + sidecars, init_peak) + overhead
    return NodeRequests(totals["cpu"], totals["memory"], totals["gpu"], 1)


def _labels_match(pod: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    meta = pod.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    if not isinstance(labels, Mapping):
        return False
    return all(labels.get(key) == value for key, value in wanted.items())


def sum_node_requests(
    pods: Iterable[Mapping[str, Any]], *, exclude_labels: Mapping[str, str] | None = None
) -> dict[str, NodeRequests]:
    """Node name → what the non-terminated pods scheduled there (``spec.nodeName``)
    request; pods carrying all of ``exclude_labels`` (e.g. a deployment's own pods,
    which a re-deploy replaces) are left out."""
    out: dict[str, NodeRequests] = {}
    for pod in pods:
        spec = pod.get("spec")
        node = spec.get("nodeName") if isinstance(spec, Mapping) else None
        if not isinstance(node, str) or not node:
            continue
        if exclude_labels and _labels_match(pod, exclude_labels):
            continue
        status = pod.get("status")
        if isinstance(status, Mapping) and status.get("phase") in _TERMINATED_PHASES:
            continue
        out[node] = out.get(node, NodeRequests()) + pod_requests(pod)
    return out


class _End:
    """Marks the end of a followed log stream."""


_END: Final = _End()


class _SecretFiles:
    """Certificates and keys as file names for ``ssl``, without putting them on disk.

    Linux: anonymous ``memfd`` files, named ``/proc/self/fd/N`` (close-on-exec).
    Elsewhere: a private ``0700`` temporary folder with ``0600`` files. Both go
    away on :meth:`close`.
    """

    def __init__(self) -> None:
        self._fds: list[int] = []
        self._folder: str | None = None
        self._memfd = hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")

    def write(self, name: str, data: bytes) -> str:
        if self._memfd:
            fd = os.memfd_create(f"podwarden-{name}")
            self._fds.append(fd)
            os.write(fd, data)
            return f"/proc/self/fd/{fd}"
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="podwarden-kube-")
        path = os.path.join(self._folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


class KubeClient:
    """One cluster's Kubernetes API. Cheap to create; connects on first use.

    ``kubeconfig`` is the cluster's stored (self-contained) kubeconfig;
    ``request_timeout`` bounds each API request in seconds; ``label`` names the
    cluster in error messages (default: the server URL).
    """

    def __init__(
        self,
        kubeconfig: SecretValue | str,
        *,
        request_timeout: float,
        label: str | None = None,
        context: str | None = None,
    ) -> None:
        if request_timeout <= 0:
            raise ValueError("request_timeout must be positive")
        self._parsed: ParsedKubeconfig = parse_kubeconfig(kubeconfig, context)
        self.server: str = self._parsed.server.url
        self.label: str = label or self.server
        # How messages name the cluster: "cluster prod (https://10.0.0.1:6443)".
        self.who: str = (
            f"cluster {label} ({self.server})" if label else f"the Kubernetes API at {self.server}"
        )
        self.request_timeout = float(request_timeout)
        self._lock = threading.Lock()
        self._api: Any = None
        self._files: _SecretFiles | None = None
        self._resources: dict[tuple[str, str], _Resource] = {}

    def __repr__(self) -> str:
        return f"KubeClient({self.label!r}, server={self.server!r})"

    @property
    def connected(self) -> bool:
        """Whether the underlying ApiClient has been built (no network check)."""
        return self._api is not None

    @property
    def default_namespace(self) -> str:
        return self._parsed.context.namespace or "default"

    def close(self) -> None:
        """Drop pooled connections and key material; a later call builds a new ApiClient."""
        with self._lock:
            api, files = self._api, self._files
            self._api = self._files = None
        if api is not None:
            with contextlib.suppress(Exception):
                api.close()
        if files is not None:
            files.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    # -- the ApiClient ----------------------------------------------------------------------
    def _client(self) -> Any:
        with self._lock:
            if self._api is None:
                self._api = self._build()
            return self._api

    def _build(self) -> Any:
        """``new_client_from_config_dict`` on a copy whose key material is in _SecretFiles."""
        doc = yaml.safe_load(minimal_kubeconfig(self._parsed))
        cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
        files = _SecretFiles()
        try:
            if self._parsed.ca_pem is not None:
                del cluster["certificate-authority-data"]
                cluster["certificate-authority"] = files.write("ca.crt", self._parsed.ca_pem.encode())
            creds = self._parsed.credentials
            if creds.client_certificate_pem is not None and creds.client_key_pem is not None:
                del user["client-certificate-data"], user["client-key-data"]
                user["client-certificate"] = files.write("client.crt", creds.client_certificate_pem.encode())
                user["client-key"] = files.write("client.key", creds.client_key_pem.reveal().encode())
            lib = _lib()
            configuration = lib.Configuration()
            configuration.retries = False  # PodWarden decides when to retry
            api = lib.new_client_from_config_dict(
                doc,
                context=self._parsed.context.name,
                persist_config=False,
                client_configuration=configuration,
            )
        except (_lib().ConfigException, ValueError, OSError) as exc:
            files.close()
            raise ValidationError(
                f"The kubeconfig of {self.who} could not be loaded: {exc}.", {"kubeconfig": "unusable"}
            ) from exc
        except BaseException:
            files.close()
            raise
        api.user_agent = _USER_AGENT
        self._files = files
        return api

    # -- calling ---------------------------------------------------------------------------
    async def _call(
        self,
        what: str,
        fn: Callable[[Any], T],
        *,
        missing: tuple[str, object] | None = None,
        timeout: float | None = None,
    ) -> T:
        """Run ``fn(api_client)`` in a thread; translate every failure."""
        limit = self.request_timeout if timeout is None else timeout

        def run() -> T:
            try:
                return fn(self._client())
            except PodWardenError:
                raise
            except Exception as exc:
                error = self._translate(exc, what, missing)
                if error is None:
                    raise
                raise error from exc

        try:
            return await asyncio.wait_for(asyncio.to_thread(run), limit + _BACKSTOP)
        except TimeoutError as exc:
            raise TemporaryServiceError(
                SERVICE, f"{_cap(self.who)} did not answer while {what} within {limit:g} s."
            ) from exc

    def _raw(
        self,
        api: Any,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, object]] = (),
        body: object = None,
        content_type: str | None = None,
        timeout: float | tuple[float, float | None] | None = None,
        stream: bool = False,
        raw_bytes: bool = False,
    ) -> Any:
        """One HTTP request through the ApiClient (auth, TLS, pool).

        Returns parsed JSON (a JSON answer), the body's bytes (``raw_bytes`` or any
        other answer), or the open urllib3 response when ``stream``. Raises
        ApiException on non-2xx.
        """
        headers = {"Accept": "application/json, */*"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        elif body is not None:
            headers["Content-Type"] = "application/json"
        params = [(k, v) for k, v in query if v is not None]
        method_, url, header_params, body_, _ = api.param_serialize(
            method=method,
            resource_path=path,
            query_params=params,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api.call_api(
            method_,
            url,
            header_params=header_params,
            body=body_,
            _request_timeout=self.request_timeout if timeout is None else timeout,
        )
        if stream and 200 <= response.status <= 299:
            return response.response
        try:
            response.read()
        finally:
            with contextlib.suppress(Exception):
                response.response.release_conn()
        if not 200 <= response.status <= 299:
            raise _lib().ApiException.from_response(
                http_resp=response, body=response.data.decode("utf-8", "replace"), data=None
            )
        if raw_bytes:
            return bytes(response.data or b"")
        if not response.data:
            return None
        if "json" not in (response.getheader("content-type") or "").lower():
            return bytes(response.data)
        return json.loads(response.data)

    def _get(self, api: Any, path: str, query: Sequence[tuple[str, object]] = ()) -> dict[str, Any]:
        data = self._raw(api, "GET", path, query=query)
        if not isinstance(data, dict):
            raise PermanentServiceError(
                SERVICE, f"{_cap(self.who)} answered GET {path} with something not JSON."
            )
        return data

    # -- errors ----------------------------------------------------------------------------
    def _translate(
        self, exc: Exception, what: str, missing: tuple[str, object] | None
    ) -> PodWardenError | None:
        lib = _lib()
        if isinstance(exc, lib.ApiException):
            if exc.status == 0 or exc.status is None:
                return self._tls_error(str(exc.reason or exc), what)
            return self._status_error(int(exc.status), exc.reason, exc.body, exc.headers, what, missing)
        if isinstance(exc, urllib3.exceptions.SSLError | ssl.SSLError):
            return self._tls_error(str(exc), what)
        inner_ssl = _ssl_cause(exc)
        if inner_ssl is not None:
            return self._tls_error(str(inner_ssl), what)
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            inner = exc.reason
            if isinstance(inner, Exception) and not isinstance(inner, urllib3.exceptions.MaxRetryError):
                return self._translate(inner, what, missing)
        if isinstance(exc, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return TemporaryServiceError(
                SERVICE,
                f"Cannot reach {self.who} while {what}: "
                f"{_first_line(exc).rsplit('): ', 1)[-1]}. Check that the cluster is running and "
                "reachable from here.",
            )
        if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
            return TemporaryServiceError(
                SERVICE,
                f"{_cap(self.who)} did not answer while {what} within {self.request_timeout:g} s.",
            )
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            return TemporaryServiceError(
                SERVICE,
                f"The connection to {self.who} failed while {what}: {_first_line(exc)}.",
            )
        if isinstance(exc, pydantic.ValidationError | lib.ApiValueError):
            return ValidationError(f"Invalid request while {what}: {_first_line(exc)}.")
        if isinstance(exc, lib.ConfigException):
            return ValidationError(f"The kubeconfig of {self.who} is unusable: {exc}.")
        return None

    def _tls_error(self, detail: str, what: str) -> PodWardenError:
        text = " ".join(detail.split())
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return PermanentServiceError(
                SERVICE,
                f"The TLS certificate of {self.who} failed the check against the "
                f"kubeconfig's CA while {what}: the CA is wrong or the address is not in the server "
                "certificate's names. Fetch a fresh kubeconfig for this address.",
            )
        if "alert" in text.lower() and "certificate" in text.lower():
            return PermanentServiceError(
                SERVICE,
                f"{_cap(self.who)} refused PodWarden's client certificate during the TLS handshake while "
                f"{what}; replace the kubeconfig.",
            )
        return TemporaryServiceError(
            SERVICE, f"The TLS connection to {self.who} failed while {what}: {text[:200]}."
        )

    def _status_error(
        self,
        status: int,
        reason: str | None,
        body: object,
        headers: Mapping[str, str] | None,
        what: str,
        missing: tuple[str, object] | None,
    ) -> PodWardenError:
        detail = _status_message(body) or (reason or "")
        said = f": {detail}" if detail else ""
        if status == 401:
            return PermanentServiceError(
                SERVICE,
                f"{_cap(self.who)} rejected PodWarden's credentials (HTTP 401 Unauthorized) while {what}. "
                "The token or client certificate in this cluster's kubeconfig is wrong, expired or "
                "revoked; replace the kubeconfig.",
            )
        if status == 403:
            return PermanentServiceError(
                SERVICE,
                f"{_cap(self.who)} refused {what} (HTTP 403 Forbidden){said}. The credentials work, but the "
                "cluster's RBAC does not allow this; grant that user more rights or use another "
                "kubeconfig.",
            )
        if status == 404:
            if missing is not None:
                return NotFoundError(*missing)
            return NotFoundError("Kubernetes API path", f"for {what} on {self.who}")
        if status == 409:
            return ConflictError(f"{_cap(self.who)} reported a conflict while {what}{said}.")
        if status == 410:
            return ConflictError(
                f"{_cap(self.who)}: the list changed too much while paging ({what}) and the continue token "
                "expired; start the list again."
            )
        if status == 429:
            retry_after = _retry_after(headers)
            return TemporaryServiceError(
                SERVICE, f"{_cap(self.who)} is busy (HTTP 429) while {what}; try again shortly.", retry_after
            )
        if 400 <= status < 500:
            return PermanentServiceError(
                SERVICE, f"{_cap(self.who)} rejected the request while {what} (HTTP {status}){said}."
            )
        return TemporaryServiceError(
            SERVICE,
            f"{_cap(self.who)} failed while {what} (HTTP {status} {reason or ''}){said}.".replace(" )", ")"),
        )

    # -- introspection ---------------------------------------------------------------------
    async def server_version(self) -> ServerVersion:
        """``GET /version``. A server that does not publish it (HTTP 404) gives a
        ServerVersion with ``git_version=None`` and a note, not an error."""
        try:
            data = await self._call("reading the server version", lambda api: self._get(api, "/version"))
        except NotFoundError:
            return ServerVersion(
                git_version=None, note="The API server does not publish its version (/version answered 404)."
            )
        return ServerVersion.from_json(data)

    async def list_nodes(self) -> list[NodeInfo]:
        """Every node with capacity, allocatable (incl. ``nvidia.com/gpu``) and conditions."""
        return [node_info(o) for o in await self._list_all("/api/v1/nodes", "listing nodes")]

    async def list_namespaces(self) -> list[NamespaceInfo]:
        return [namespace_info(o) for o in await self._list_all("/api/v1/namespaces", "listing namespaces")]

    async def list_storage_classes(self) -> list[StorageClassInfo]:
        items = await self._list_all("/apis/storage.k8s.io/v1/storageclasses", "listing storage classes")
        return [storage_class_info(o) for o in items]

    async def list_pods_page(
        self,
        namespace: str | None = None,
        limit: int = PAGE_SIZE,
        continue_token: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> PodPage:
        """One page of pods (all namespaces when ``namespace`` is None).

        Pass the page's ``continue_token`` back for the next page; an expired token
        is a :class:`ConflictError` (start again).
        """
        _check_limit(limit)
        path = "/api/v1/pods" if namespace is None else f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
        query = [("limit", limit), ("continue", continue_token), ("labelSelector", label_selector)]
        where = f"listing pods{'' if namespace is None else f' in {namespace}'}"

        def call(api: Any) -> PodPage:
            data = self._get(api, path, query)
            meta = data.get("metadata") or {}
            return PodPage(
                items=[pod_info(o) for o in data.get("items") or []],
                continue_token=meta.get("continue") or None,
                remaining=meta.get("remainingItemCount"),
            )

        missing = None if namespace is None else ("Namespace", namespace)
        return await self._call(where, call, missing=missing)

    async def iter_pod_pages(
        self, namespace: str | None = None, *, page_size: int = PAGE_SIZE, label_selector: str | None = None
    ) -> AsyncIterator[PodPage]:
        """Every pod, a page at a time (``limit``/``continue``)."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = await self.list_pods_page(namespace, page_size, token, label_selector=label_selector)
            yield page
            token = page.continue_token
            if token is None:
                return
            if token in seen:
                raise PermanentServiceError(
                    SERVICE, f"{_cap(self.who)} handed out the same continue token twice while listing pods."
                )
            seen.add(token)

    async def list_pods(
        self, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[PodInfo]:
        pods: list[PodInfo] = []
        async for page in self.iter_pod_pages(namespace, label_selector=label_selector):
            pods.extend(page.items)
        return pods

    async def node_requests(
        self, *, exclude_labels: Mapping[str, str] | None = None
    ) -> dict[str, NodeRequests]:
        """Node name → resources requested by the non-terminated pods scheduled on it
        (see :func:`sum_node_requests`), over every namespace, paged with limit/continue.

        The phase filter is also sent as a ``fieldSelector`` (less to transfer on a
        real cluster); it is applied here again for servers that ignore it."""
        totals: dict[str, NodeRequests] = {}
        token: str | None = None
        seen: set[str] = set()
        selector = ",".join(f"status.phase!={phase}" for phase in sorted(_TERMINATED_PHASES))

        def page(api: Any, query: Sequence[tuple[str, object]]) -> tuple[dict[str, NodeRequests], str | None]:
            data = self._get(api, "/api/v1/pods", query)
            items = [i for i in data.get("items") or [] if isinstance(i, Mapping)]
            found = sum_node_requests(items, exclude_labels=exclude_labels)
            next_token = (data.get("metadata") or {}).get("continue") or None
            return found, str(next_token) if next_token else None

        while True:
            query = (("limit", PAGE_SIZE), ("continue", token), ("fieldSelector", selector))
            found, token = await self._call(
                "listing pods to sum their requests", functools.partial(page, query=query)
            )
            for node, amount in found.items():
                totals[node] = totals.get(node, NodeRequests()) + amount
            if token is None:
                return totals
            if token in seen:
                raise PermanentServiceError(
                    SERVICE, f"{_cap(self.who)} handed out the same continue token twice while listing pods."
                )
            seen.add(token)

    async def list_events(
        self, namespace: str | None = None, *, limit: int = 200, max_scan: int = 5000
    ) -> list[EventInfo]:
        """The ``limit`` most recent events (newest first), from at most ``max_scan`` events."""
        path = (
            "/api/v1/events"
            if namespace is None
            else f"/api/v1/namespaces/{quote(namespace, safe='')}/events"
        )
        items = await self._list_all(path, "listing events", cap=max_scan)
        events = [event_info(o) for o in items]
        events.sort(key=lambda e: (e.last_seen is not None, e.last_seen), reverse=True)
        return events[:limit]

    async def _list_all(
        self, path: str, what: str, *, label_selector: str | None = None, cap: int | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a list endpoint, paged with limit/continue (one request per page)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = [("limit", PAGE_SIZE), ("continue", token), ("labelSelector", label_selector)]
            data = await self._call(what, functools.partial(self._get, path=path, query=query))
            items.extend(i for i in data.get("items") or [] if isinstance(i, dict))
            next_token = (data.get("metadata") or {}).get("continue") or None
            if next_token is None or next_token == token or (cap is not None and len(items) >= cap):
                return items
            token = next_token

    # -- logs ------------------------------------------------------------------------------
    def _log_path(self, namespace: str, pod: str) -> str:
        return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"

    async def pod_logs(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = 100,
        previous: bool = False,
        limit_bytes: int | None = _DEFAULT_LOG_BYTES,
    ) -> list[str]:
        """The last ``tail_lines`` lines of a pod's log (None: all, up to ``limit_bytes``)."""
        if tail_lines is not None and tail_lines < 0:
            raise ValidationError("tail_lines is zero or more.", {"tail_lines": "negative"})
        query = [
            ("container", container),
            ("tailLines", tail_lines),
            ("previous", "true" if previous else None),
            ("limitBytes", limit_bytes),
        ]

        def call(api: Any) -> list[str]:
            data = self._raw(api, "GET", self._log_path(namespace, pod), query=query, raw_bytes=True)
            return cast(bytes, data).decode("utf-8", "replace").splitlines()

        return await self._call(
            f"reading the log of pod {namespace}/{pod}", call, missing=("Pod", f"{namespace}/{pod}")
        )

    async def follow_logs(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
    ) -> AsyncIterator[str]:
        """Follow a pod's log: lines as they come, until the pod's log ends or the
        consumer stops (``break``, ``aclose()`` or cancellation).

        A reader thread pulls the HTTP stream into a bounded queue; stopping shuts
        the socket down, which ends the thread, and closes the response.
        """
        what = f"following the log of pod {namespace}/{pod}"
        query = [
            ("follow", "true"),
            ("container", container),
            ("tailLines", tail_lines),
            ("sinceSeconds", since_seconds),
        ]
        # Connect + headers within the request timeout; then no read timeout (a quiet pod is fine).
        response = await self._call(
            what,
            lambda api: self._raw(
                api,
                "GET",
                self._log_path(namespace, pod),
                query=query,
                timeout=(self.request_timeout, None),
                stream=True,
            ),
            missing=("Pod", f"{namespace}/{pod}"),
        )
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | _End | PodWardenError] = asyncio.Queue(maxsize=_QUEUE_LINES)
        stop = threading.Event()
        finished: asyncio.Future[None] = loop.create_future()
        reader = threading.Thread(
            target=self._pump,
            args=(response, queue, loop, stop, finished, what),
            name=f"podwarden-kube-logs:{namespace}/{pod}",
            daemon=True,
        )
        reader.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _End):
                    return
                if isinstance(item, PodWardenError):
                    raise item
                yield item
        finally:
            stop.set()
            _shutdown(response)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(finished), _BACKSTOP)

    def _pump(
        self,
        response: Any,
        queue: asyncio.Queue[str | _End | PodWardenError],
        loop: asyncio.AbstractEventLoop,
        stop: threading.Event,
        finished: asyncio.Future[None],
        what: str,
    ) -> None:
        """Reader thread: stream → lines → queue. Always closes the response."""

        def put(item: str | _End | PodWardenError) -> bool:
            try:
                future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            except RuntimeError:  # the loop is closed
                return False
            while True:
                try:
                    future.result(timeout=_STOP_POLL)
                    return True
                except concurrent.futures.TimeoutError:
                    if stop.is_set():
                        future.cancel()
                        return False
                except (concurrent.futures.CancelledError, RuntimeError):
                    return False

        final: _End | PodWardenError = _END
        try:
            pending = b""
            for chunk in _chunks(response):
                if stop.is_set():
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if len(pending) > _MAX_LINE:
                    lines.append(pending)
                    pending = b""
                for line in lines:
                    if not put(line.decode("utf-8", "replace").rstrip("\r")):
                        return
            if pending and not stop.is_set():
                put(pending.decode("utf-8", "replace").rstrip("\r"))
        except Exception as exc:
            if not stop.is_set():
                final = self._translate(exc, what, None) or TemporaryServiceError(
                    SERVICE, f"The log stream from {self.who} broke while {what}: {_first_line(exc)}."
                )
        finally:
            with contextlib.suppress(Exception):
                response.close()
            with contextlib.suppress(Exception):
                response.release_conn()
            if not stop.is_set():
                put(final)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, finished)

    # -- generic objects (used by deployments) -------------------------------------------
    async def _resource(self, api_version: str, kind: str) -> _Resource:
        if not api_version or not kind:
            raise ValidationError("A manifest needs apiVersion and kind.", {"kind": "missing"})
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        known = _KNOWN_KINDS.get((group, kind))
        if known is not None:
            return _Resource(api_version, kind, *known)
        cached = self._resources.get((api_version, kind))
        if cached is not None:
            return cached
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        data = await self._call(
            f"looking up kind {kind} in {api_version}",
            lambda api: self._get(api, path),
            missing=("Kubernetes API group version", api_version),
        )
        for entry in data.get("resources") or []:
            if (
                isinstance(entry, dict)
                and entry.get("kind") == kind
                and "/" not in str(entry.get("name", ""))
            ):
                resource = _Resource(api_version, kind, str(entry["name"]), bool(entry.get("namespaced")))
                self._resources[(api_version, kind)] = resource
                return resource
        raise NotFoundError("Kubernetes resource kind", f"{api_version} {kind} on {self.who}")

    def _namespace_for(self, resource: _Resource, namespace: str | None) -> str | None:
        return (namespace or self.default_namespace) if resource.namespaced else None

    async def server_side_apply(
        self,
        manifest: Mapping[str, Any],
        field_manager: str = FIELD_MANAGER,
        *,
        force: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply one object (``PATCH`` ``application/apply-patch+yaml``);
        returns the object as the server now has it. ``dry_run`` changes nothing."""
        meta = manifest.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            raise ValidationError("A manifest needs metadata.name.", {"metadata.name": "missing"})
        api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
        resource = await self._resource(api_version, kind)
        namespace = self._namespace_for(resource, cast(dict[str, Any], meta).get("namespace"))
        body = dict(manifest)
        if namespace is not None:
            body["metadata"] = {**cast(dict[str, Any], meta), "namespace": namespace}
        query = [
            ("fieldManager", field_manager),
            ("force", "true" if force else None),
            ("dryRun", "All" if dry_run else None),
        ]
        where = f"applying {kind} {_ref(namespace, name)}"
        missing = (
            ("Namespace", namespace) if namespace else ("Kubernetes resource kind", f"{api_version} {kind}")
        )
        data = await self._call(
            where,
            lambda api: self._raw(
                api,
                "PATCH",
                resource.path(namespace, name),
                query=query,
                body=body,
                content_type="application/apply-patch+yaml",
            ),
            missing=missing,
        )
        return cast(dict[str, Any], data) if isinstance(data, dict) else {}

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        """One object; :class:`NotFoundError` when it does not exist."""
        resource = await self._resource(api_version, kind)
        ns = self._namespace_for(resource, namespace)
        return await self._call(
            f"reading {kind} {_ref(ns, name)}",
            lambda api: self._get(api, resource.path(ns, name)),
            missing=(kind, _ref(ns, name)),
        )

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
        missing_ok: bool = True,
        dry_run: bool = False,
    ) -> bool:
        """Delete one object. Returns False when it was already gone (``missing_ok``)."""
        resource = await self._resource(api_version, kind)
        ns = self._namespace_for(resource, namespace)
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        query = [("dryRun", "All" if dry_run else None)]
        try:
            await self._call(
                f"deleting {kind} {_ref(ns, name)}",
                lambda api: self._raw(api, "DELETE", resource.path(ns, name), query=query, body=body),
                missing=(kind, _ref(ns, name)),
            )
        except NotFoundError:
            if missing_ok:
                return False
            raise
        return True

    async def list_by_label(
        self,
        api_version: str,
        kind: str,
        selector: Mapping[str, str] | str,
        namespace: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every object of a kind matching a label selector (all namespaces when
        ``namespace`` is None), paged with limit/continue."""
        resource = await self._resource(api_version, kind)
        text = selector if isinstance(selector, str) else ",".join(f"{k}={v}" for k, v in selector.items())
        path = resource.path(namespace if resource.namespaced else None)
        return await self._list_all(path, f"listing {kind} by label {text}", label_selector=text)


# -- helpers ----------------------------------------------------------------------------------
def _chunks(response: Any) -> Iterator[bytes]:
    """Bytes as they arrive: per HTTP chunk when chunked, else whatever one read returns."""
    if getattr(response, "chunked", False) and response.supports_chunked_reads():
        yield from response.read_chunked(_STREAM_CHUNK, decode_content=True)
        return
    while True:
        data = response.read1(_STREAM_CHUNK)
        if not data:
            return
        yield data


def _shutdown(response: Any) -> None:
    """Unblock a reader thread stuck in recv() on this response's socket."""
    with contextlib.suppress(Exception):
        response.shutdown()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"A page holds 1 to {MAX_PAGE_SIZE} items.", {"limit": "out of range"})


def _ref(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _status_message(body: object) -> str:
    """The ``message`` of a Kubernetes Status body, shortened."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        text = " ".join(body.split())
    else:
        text = str(doc.get("message", "")) if isinstance(doc, dict) else ""
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """An ssl.SSLError inside a urllib3 wrapper (args, cause or context), if any."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLError):
            return item
        stack.extend([*item.args, item.__cause__, item.__context__])
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:_MAX_DETAIL] if lines else type(exc).__name__
