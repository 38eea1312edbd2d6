"""Clusters (``clusters`` table): add, edit, protect, delete, and look inside them.

Each cluster keeps its own kubeconfig — there is no global one. It is stored
minimised (one cluster, one user, one context, everything inline) as the
encrypted secret ``cluster/<id>/kubeconfig`` (kind ``kubeconfig``), written in the
same unit of work as the cluster row; the row keeps only the API server URL and
the context name, so neither the ``clusters`` table nor the ``secrets`` table
holds the kubeconfig in plain text.

Introspection (overview, pods, events, logs) talks to the cluster through one
:class:`~podwarden.engine.adapters.kube.KubeClient` per cluster, built on first
use from the decrypted kubeconfig and cached; the cache entry is keyed by the
secret's version, so a kubeconfig replaced by this or another engine is picked up
on the next call. Nothing here contacts a cluster until an introspection
operation is called — never at engine start.

Deleting a cluster (admins, refused while it is protected) releases its member
hosts: they leave the cluster (``cluster_id``/``cluster_role`` cleared, an
``in_cluster`` host becomes ``provisioned``) and lose their protection. Its
deployments and ingress rules stay as records without a cluster (the database
clears their ``cluster_id``); nothing running in the cluster is removed.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from podwarden.engine.adapters.kube import PAGE_SIZE, KubeClient
from podwarden.engine.db.database import UnitOfWork
from podwarden.engine.errors import (
    ConflictError,
    NotFoundError,
    PermanentServiceError,
    ProtectedResourceError,
    TemporaryServiceError,
    ValidationError,
)
from podwarden.engine.models.access import Secret
from podwarden.engine.models.fleet import Cluster, Host, HostState
from podwarden.engine.models.services import IngressRule
from podwarden.engine.models.workloads import Deployment
from podwarden.engine.parsers.kubeconfig import (
    ContextChoice,
    ParsedKubeconfig,
    contexts_from_file,
    load_kubeconfig_file,
    minimal_kubeconfig,
    parse_kubeconfig,
)
from podwarden.engine.schemas.kube import (
    EventInfo,
    NamespaceInfo,
    NodeInfo,
    PodPage,
    ServerVersion,
    StorageClassInfo,
)
from podwarden.engine.security.crypto import SecretValue
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Context, Service, check_version, now
from podwarden.engine.services.secrets import SecretsService

__all__ = [
    "EDITABLE_FIELDS",
    "AffectedItem",
    "AffectedPreview",
    "ClusterInfo",
    "ClusterOverview",
    "ClustersService",
    "kubeconfig_secret_name",
]

EDITABLE_FIELDS: Final = ("name", "description", "kubeconfig", "context")
MAX_DESCRIPTION: Final = 10_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}")


def kubeconfig_secret_name(cluster_id: uuid.UUID) -> str:
    return f"cluster/{cluster_id}/kubeconfig"


# -- what callers get ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterInfo:
    """A cluster as callers see it (never its kubeconfig).

    ``status`` is what the last introspection saw: ``unknown`` (never looked, or
    the kubeconfig changed since), ``reachable``, ``unreachable`` or ``rejected``
    (the cluster refused the request or the credentials). ``warnings`` come from
    checking the kubeconfig when it was added or replaced in this call.
    """

    id: uuid.UUID
    name: str
    description: str
    api_server: str | None
    context: str | None
    protected: bool
    kubernetes_version: str | None
    last_seen_at: datetime | None
    status: str
    control_plane_host_id: uuid.UUID | None
    member_count: int
    has_kubeconfig: bool
    version: int
    created_at: datetime
    updated_at: datetime
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class AffectedItem:
    """One thing a destructive operation touches, and how."""

    kind: str  # deployment | host | ingress_rule | secret
    id: uuid.UUID | None
    name: str
    effect: str


@dataclass(frozen=True)
class AffectedPreview:
    """What deleting something would touch, shown before it happens.

    ``blocked_by`` says why the deletion would be refused right now (None: allowed).
    """

    kind: str
    id: uuid.UUID
    name: str
    protected: bool
    blocked_by: str | None
    items: tuple[AffectedItem, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.blocked_by is not None

    def of_kind(self, kind: str) -> list[AffectedItem]:
        return [item for item in self.items if item.kind == kind]


@dataclass(frozen=True)
class ClusterOverview:
    """A cluster's live state: server version, nodes, namespaces, storage classes."""

    cluster: ClusterInfo
    version: ServerVersion
    nodes: list[NodeInfo]
    namespaces: list[NamespaceInfo]
    storage_classes: list[StorageClassInfo]
    observed_at: datetime = field(default_factory=now)

    @property
    def ready_nodes(self) -> int:
        return sum(1 for n in self.nodes if n.ready)

    @property
    def gpu_allocatable(self) -> int:
        return sum(n.gpu_allocatable for n in self.nodes)

    @property
    def default_storage_class(self) -> str | None:
        return next((s.name for s in self.storage_classes if s.is_default), None)


# -- validation ---------------------------------------------------------------------------------
def _check_name(value: object) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not _NAME.fullmatch(name):
        raise ValidationError(
            "A cluster name starts with a letter or digit and uses letters, digits, spaces and . _ - "
            "(up to 63 characters).",
            {"name": "invalid cluster name"},
        )
    return name


def _check_description(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("The description is text.", {"description": "not text"})
    if len(value) > MAX_DESCRIPTION:
        raise ValidationError(
            f"The description is longer than {MAX_DESCRIPTION:,} characters.", {"description": "too long"}
        )
    return value


async def _parse(text: str | SecretValue, context: str | None) -> ParsedKubeconfig:
    # Certificate and key checks are CPU work (RSA keys): keep them off the event loop.
    return await asyncio.to_thread(parse_kubeconfig, text, context)


class ClustersService(Service):
    def __init__(self, ctx: Context, secrets: SecretsService | None = None) -> None:
        super().__init__(ctx)
        self._secrets = secrets if secrets is not None else SecretsService(ctx)
        # cluster id → ((secret version, cluster name), client); built on first use only.
        self._clients: dict[uuid.UUID, tuple[tuple[int, str], KubeClient]] = {}
        self._clients_lock = asyncio.Lock()

    async def close(self) -> None:
        """Close every cached cluster client (pooled connections, key material)."""
        clients, self._clients = list(self._clients.values()), {}
        for _, client in clients:
            await client.aclose()

    # -- reading ---------------------------------------------------------------------------
    @operation(Permissions.READ, Access.READ)
    async def get_cluster(self, actor: Actor, cluster_id: uuid.UUID) -> ClusterInfo:
        """One cluster."""
        async with self.db.session() as session:
            cluster = await session.get(Cluster, cluster_id)
            if cluster is None:
                raise NotFoundError("Cluster", cluster_id)
            counts = await self._member_counts(session, [cluster_id])
        return _info(cluster, counts.get(cluster_id, 0))

    @operation(Permissions.READ, Access.READ)
    async def list_clusters(self, actor: Actor) -> list[ClusterInfo]:
        """Every cluster, by name."""
        async with self.db.session() as session:
            clusters = list((await session.execute(select(Cluster).order_by(Cluster.name))).scalars())
            counts = await self._member_counts(session, [c.id for c in clusters])
        return [_info(c, counts.get(c.id, 0)) for c in clusters]

    @operation(Permissions.READ, Access.READ)
    async def network_capability(self, actor: Actor, cluster_id: uuid.UUID) -> frozenset[str]:
        """The network types every member host has (the intersection of their
        ``network_types``). A cluster without member hosts has none."""
        async with self.db.session() as session:
            await self._exists(session, cluster_id)
            rows = (
                await session.execute(select(Host.network_types).where(Host.cluster_id == cluster_id))
            ).all()
        sets = [frozenset(types or []) for (types,) in rows]
        return frozenset.intersection(*sets) if sets else frozenset()

    @operation(Permissions.READ, Access.READ)
    async def affected_by_delete(self, actor: Actor, cluster_id: uuid.UUID) -> AffectedPreview:
        """What deleting this cluster would touch: its deployments, member hosts,
        ingress rules and stored kubeconfig; and whether it is blocked."""
        async with self.db.session() as session:
            cluster = await session.get(Cluster, cluster_id)
            if cluster is None:
                raise NotFoundError("Cluster", cluster_id)
            items: list[AffectedItem] = []
            deployments = await session.execute(
                select(Deployment.id, Deployment.namespace, Deployment.name)
                .where(Deployment.cluster_id == cluster_id)
                .order_by(Deployment.namespace, Deployment.name)
            )
            for dep_id, namespace, dep_name in deployments:
                items.append(
                    AffectedItem(
                        "deployment",
                        dep_id,
                        f"{namespace}/{dep_name}",
                        "stays in PodWarden without a cluster; what runs in the cluster is not removed",
                    )
                )
            hosts = await session.execute(
                select(Host.id, Host.hostname, Host.protected, Host.kubernetes_detected)
                .where(Host.cluster_id == cluster_id)
                .order_by(Host.hostname)
            )
            for host_id, hostname, protected, detected in hosts:
                effect = "leaves the cluster" + (" and is no longer protected" if protected else "")
                if detected:
                    effect += " (K3s stays installed on it)"
                items.append(AffectedItem("host", host_id, hostname, effect))
            rules = await session.execute(
                select(IngressRule.id, IngressRule.domain, IngressRule.path)
                .where(IngressRule.cluster_id == cluster_id)
                .order_by(IngressRule.domain, IngressRule.path)
            )
            for rule_id, domain, path in rules:
                items.append(
                    AffectedItem("ingress_rule", rule_id, f"{domain}{path}", "stays without a cluster")
                )
            if cluster.kubeconfig_secret is not None:
                items.append(AffectedItem("secret", None, cluster.kubeconfig_secret, "deleted"))
        blocked = (
            f"Cluster {cluster.name} is protected; an admin must lift the protection first."
            if cluster.protected
            else None
        )
        return AffectedPreview("cluster", cluster.id, cluster.name, cluster.protected, blocked, tuple(items))

    @operation(Permissions.CLUSTERS_MANAGE, Access.READ)
    async def list_kube_contexts(self, actor: Actor, path: str | Path | None = None) -> list[ContextChoice]:
        """The contexts of a local kubeconfig file (default ``$KUBECONFIG`` or
        ``~/.kube/config`` on the machine running the engine), each saying whether
        PodWarden can use it."""
        return await asyncio.to_thread(contexts_from_file, path)

    # -- adding and editing ----------------------------------------------------------------
    @operation(Permissions.CLUSTERS_MANAGE, Access.MUTATING)
    async def create_from_kubeconfig(
        self,
        actor: Actor,
        name: str,
        kubeconfig_text: str | SecretValue,
        *,
        context: str | None = None,
        description: str = "",
    ) -> ClusterInfo:
        """Add a cluster from a pasted kubeconfig (``context``: which one; default the
        current or only one). Nothing is contacted: the kubeconfig is checked and stored."""
        return await self._create(name, await _parse(kubeconfig_text, context), description)

    @operation(Permissions.CLUSTERS_MANAGE, Access.MUTATING)
    async def create_from_context(
        self,
        actor: Actor,
        name: str,
        context: str,
        path: str | Path | None = None,
        *,
        description: str = "",
    ) -> ClusterInfo:
        """Add a cluster from a context of a local kubeconfig file; files it refers to
        (certificates, keys, token files) are read and stored inline."""
        parsed = await asyncio.to_thread(load_kubeconfig_file, path, context)
        return await self._create(name, parsed, description)

    async def _create(self, name: str, parsed: ParsedKubeconfig, description: str) -> ClusterInfo:
        name = _check_name(name)
        description = _check_description(description)
        text = SecretValue(minimal_kubeconfig(parsed))
        cluster_id = uuid.uuid4()
        secret_name = kubeconfig_secret_name(cluster_id)
        async with self.db.unit_of_work() as uow:
            await self._refuse_duplicate(uow, name, None)
            await self._secrets.put(
                uow,
                secret_name,
                text,
                kind="kubeconfig",
                description=f"Kubeconfig of cluster {name}",
                replace=False,
            )
            cluster = Cluster(
                id=cluster_id,
                name=name,
                description=description,
                kubeconfig_secret=secret_name,
                api_server=parsed.server.url,
                context=parsed.context.name,
                protected=False,
                status="unknown",
            )
            uow.session.add(cluster)
            await uow.flush()
            return _info(cluster, 0, parsed.warnings)

    @operation(Permissions.CLUSTERS_MANAGE, Access.MUTATING)
    async def update_cluster(
        self, actor: Actor, cluster_id: uuid.UUID, changes: Mapping[str, Any], *, expected_version: int
    ) -> ClusterInfo:
        """Change name, description or the kubeconfig (``kubeconfig``, with an optional
        ``context`` to pick from it) of a cluster loaded at ``expected_version``."""
        unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
        if unknown:
            raise ValidationError(
                f"Not editable here: {', '.join(unknown)}; editable cluster fields are "
                f"{', '.join(EDITABLE_FIELDS)}.",
                {f: "not editable" for f in unknown},
            )
        if "context" in changes and "kubeconfig" not in changes:
            raise ValidationError(
                "A cluster stores one context; to switch, give the kubeconfig again with the context.",
                {"context": "needs kubeconfig"},
            )
        name = _check_name(changes["name"]) if "name" in changes else None
        description = _check_description(changes["description"]) if "description" in changes else None
        parsed: ParsedKubeconfig | None = None
        if "kubeconfig" in changes:
            new_text = changes["kubeconfig"]
            if not isinstance(new_text, str | SecretValue):
                raise ValidationError("The kubeconfig is text.", {"kubeconfig": "not text"})
            context = changes.get("context")
            if context is not None and not isinstance(context, str):
                raise ValidationError("The context is a name.", {"context": "not text"})
            parsed = await _parse(new_text, context)
        async with self.db.unit_of_work() as uow:
            cluster = await uow.session.get(Cluster, cluster_id, with_for_update=True)
            if cluster is None:
                raise NotFoundError("Cluster", cluster_id)
            check_version(cluster, expected_version, "cluster")
            if name is not None and name != cluster.name:
                await self._refuse_duplicate(uow, name, cluster.id)
                cluster.name = name
            if description is not None:
                cluster.description = description
            if parsed is not None:
                secret_name = cluster.kubeconfig_secret or kubeconfig_secret_name(cluster.id)
                await self._secrets.put(
                    uow,
                    secret_name,
                    SecretValue(minimal_kubeconfig(parsed)),
                    kind="kubeconfig",
                    description=f"Kubeconfig of cluster {cluster.name}",
                )
                cluster.kubeconfig_secret = secret_name
                cluster.api_server = parsed.server.url
                cluster.context = parsed.context.name
                cluster.kubernetes_version = None
                cluster.status = "unknown"
                cluster.updated_at = now()
            await uow.flush()
            counts = await self._member_counts(uow.session, [cluster.id])
            result = _info(cluster, counts.get(cluster.id, 0), parsed.warnings if parsed else ())
        if parsed is not None:
            await self._forget_client(cluster_id)
        return result

    @operation(Permissions.CLUSTERS_DELETE, Access.MUTATING)
    async def set_protected(
        self, actor: Actor, cluster_id: uuid.UUID, protected: bool, *, expected_version: int | None = None
    ) -> ClusterInfo:
        """Turn a cluster's delete protection on or off (admins)."""
        if not isinstance(protected, bool):
            raise ValidationError("protected is true or false.", {"protected": "not a boolean"})
        async with self.db.unit_of_work() as uow:
            cluster = await uow.session.get(Cluster, cluster_id, with_for_update=True)
            if cluster is None:
                raise NotFoundError("Cluster", cluster_id)
            check_version(cluster, expected_version, "cluster")
            cluster.protected = protected
            await uow.flush()
            counts = await self._member_counts(uow.session, [cluster.id])
            return _info(cluster, counts.get(cluster.id, 0))

    @operation(Permissions.CLUSTERS_DELETE, Access.DESTRUCTIVE)
    async def delete_cluster(
        self, actor: Actor, cluster_id: uuid.UUID, *, expected_version: int | None = None
    ) -> AffectedPreview:
        """Delete a cluster and its stored kubeconfig; release its member hosts.

        Refused with :class:`ProtectedResourceError` while the cluster is protected.
        Returns what was touched (as :meth:`affected_by_delete` described it).
        """
        preview = await self.affected_by_delete(Actor.system(), cluster_id)
        async with self.db.unit_of_work() as uow:
            cluster = await uow.session.get(Cluster, cluster_id, with_for_update=True)
            if cluster is None:
                raise NotFoundError("Cluster", cluster_id)
            check_version(cluster, expected_version, "cluster")
            if cluster.protected:
                raise ProtectedResourceError(
                    f"Cluster {cluster.name} is protected; an admin must lift the protection before "
                    "deleting it."
                )
            hosts = (
                await uow.session.execute(select(Host).where(Host.cluster_id == cluster_id).with_for_update())
            ).scalars()
            for host in hosts:
                host.cluster_id = None
                host.cluster_role = None
                host.protected = False
                if host.state is HostState.IN_CLUSTER:
                    host.state = HostState.PROVISIONED
            # The database clears cluster_id on these (ON DELETE SET NULL); tell listeners.
            for table, model in (("deployments", Deployment), ("ingress_rules", IngressRule)):
                ids = (
                    await uow.session.execute(select(model.id).where(model.cluster_id == cluster_id))
                ).scalars()
                uow.announce(table, ids)
            if cluster.kubeconfig_secret is not None:
                secret = (
                    await uow.session.execute(select(Secret).where(Secret.name == cluster.kubeconfig_secret))
                ).scalar_one_or_none()
                if secret is not None:
                    await uow.session.delete(secret)
            await uow.session.delete(cluster)
        await self._forget_client(cluster_id)
        return preview

    # -- looking inside --------------------------------------------------------------------
    @operation(Permissions.READ, Access.READ)
    async def cluster_overview(self, actor: Actor, cluster_id: uuid.UUID) -> ClusterOverview:
        """Server version, nodes (capacity, allocatable incl. GPUs, conditions),
        namespaces and storage classes, fetched side by side. Records what it saw
        (status, Kubernetes version, last seen) on the cluster row."""
        client = await self._client(cluster_id)
        version, nodes, namespaces, classes = await asyncio.gather(
            client.server_version(),
            client.list_nodes(),
            client.list_namespaces(),
            client.list_storage_classes(),
            return_exceptions=True,
        )
        for result in (version, nodes, namespaces, classes):
            if isinstance(result, BaseException):
                if isinstance(result, TemporaryServiceError):
                    await self._record(cluster_id, "unreachable")
                elif isinstance(result, PermanentServiceError):
                    await self._record(cluster_id, "rejected")
                raise result
        assert isinstance(version, ServerVersion)
        assert isinstance(nodes, list) and isinstance(namespaces, list) and isinstance(classes, list)
        await self._record(cluster_id, "reachable", version.git_version, seen=True)
        return ClusterOverview(
            cluster=await self.get_cluster(Actor.system(), cluster_id),
            version=version,
            nodes=nodes,
            namespaces=namespaces,
            storage_classes=classes,
        )

    @operation(Permissions.READ, Access.READ)
    async def list_pods_page(
        self,
        actor: Actor,
        cluster_id: uuid.UUID,
        *,
        namespace: str | None = None,
        limit: int = PAGE_SIZE,
        continue_token: str | None = None,
        label_selector: str | None = None,
    ) -> PodPage:
        """One page of pods (``limit``, default 500); pass ``continue_token`` on for the next."""
        client = await self._client(cluster_id)
        return await client.list_pods_page(namespace, limit, continue_token, label_selector=label_selector)

    @operation(Permissions.READ, Access.READ)
    async def events(
        self, actor: Actor, cluster_id: uuid.UUID, *, namespace: str | None = None, limit: int = 200
    ) -> list[EventInfo]:
        """The most recent events, newest first."""
        client = await self._client(cluster_id)
        return await client.list_events(namespace, limit=limit)

    @operation(Permissions.READ, Access.READ)
    async def pod_logs(
        self,
        actor: Actor,
        cluster_id: uuid.UUID,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = 200,
        previous: bool = False,
    ) -> list[str]:
        """The last ``tail_lines`` lines of a pod's log."""
        client = await self._client(cluster_id)
        return await client.pod_logs(
            namespace, pod, container=container, tail_lines=tail_lines, previous=previous
        )

    @operation(Permissions.READ, Access.READ)
    async def follow_pod_logs(
        self,
        actor: Actor,
        cluster_id: uuid.UUID,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = 50,
    ) -> AsyncIterator[str]:
        """Follow a pod's log: ``async for line in await clusters.follow_pod_logs(...)``.

        Stop with ``break`` (holding no other reference), ``aclose()`` or
        cancellation; the stream and its reader thread end with it.
        """
        client = await self._client(cluster_id)
        return client.follow_logs(namespace, pod, container=container, tail_lines=tail_lines)

    # -- helpers ---------------------------------------------------------------------------
    async def client_for(self, cluster_id: uuid.UUID) -> KubeClient:
        """The cluster's cached client, for other services (they check their own permissions)."""
        return await self._client(cluster_id)

    async def _client(self, cluster_id: uuid.UUID) -> KubeClient:
        """The cluster's client, rebuilt when its kubeconfig secret changed."""
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(Cluster.name, Cluster.kubeconfig_secret, Secret.version)
                    .outerjoin(Secret, Secret.name == Cluster.kubeconfig_secret)
                    .where(Cluster.id == cluster_id)
                )
            ).first()
        if row is None:
            raise NotFoundError("Cluster", cluster_id)
        name, secret_name, secret_version = row
        if secret_name is None or secret_version is None:
            raise ValidationError(
                f"Cluster {name} has no kubeconfig; add one before looking inside it.",
                {"kubeconfig": "missing"},
            )
        key = (int(secret_version), str(name))
        async with self._clients_lock:
            cached = self._clients.get(cluster_id)
            if cached is not None and cached[0] == key:
                return cached[1]
        text = await self._secrets.reveal(secret_name)
        timeout = self.ctx.settings.timeouts.kube_request
        client = await asyncio.to_thread(lambda: KubeClient(text, request_timeout=timeout, label=str(name)))
        async with self._clients_lock:
            old = self._clients.pop(cluster_id, None)
            self._clients[cluster_id] = (key, client)
        if old is not None and old[1] is not client:
            await old[1].aclose()
        return client

    async def _forget_client(self, cluster_id: uuid.UUID) -> None:
        async with self._clients_lock:
            old = self._clients.pop(cluster_id, None)
        if old is not None:
            await old[1].aclose()

    async def _record(
        self, cluster_id: uuid.UUID, status: str, kubernetes_version: str | None = None, *, seen: bool = False
    ) -> None:
        """Note what introspection saw, without bumping the row's version (it is not an edit)."""
        values: dict[str, Any] = {"status": status, "updated_at": Cluster.updated_at}
        if seen:
            values["last_seen_at"] = now()
            if kubernetes_version is not None:
                values["kubernetes_version"] = kubernetes_version
        async with self.db.unit_of_work() as uow:
            await uow.session.execute(
                update(Cluster)
                .where(Cluster.id == cluster_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            uow.announce("clusters", [cluster_id])

    @staticmethod
    async def _exists(session: AsyncSession, cluster_id: uuid.UUID) -> None:
        found = (
            await session.execute(select(Cluster.id).where(Cluster.id == cluster_id))
        ).scalar_one_or_none()
        if found is None:
            raise NotFoundError("Cluster", cluster_id)

    @staticmethod
    async def _member_counts(session: AsyncSession, cluster_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        ids = list(cluster_ids)
        if not ids:
            return {}
        rows = await session.execute(
            select(Host.cluster_id, func.count()).where(Host.cluster_id.in_(ids)).group_by(Host.cluster_id)
        )
        return {cid: int(count) for cid, count in rows if cid is not None}

    @staticmethod
    async def _refuse_duplicate(uow: UnitOfWork, name: str, own_id: uuid.UUID | None) -> None:
        stmt = select(Cluster.id).where(func.lower(Cluster.name) == name.lower())
        if own_id is not None:
            stmt = stmt.where(Cluster.id != own_id)
        if (await uow.session.execute(stmt.limit(1))).scalar_one_or_none() is not None:
            raise ConflictError(f"A cluster named {name} already exists; choose another name.")


def _info(cluster: Cluster, members: int, warnings: Iterable[str] = ()) -> ClusterInfo:
    return ClusterInfo(
        id=cluster.id,
        name=cluster.name,
        description=cluster.description,
        api_server=cluster.api_server,
        context=cluster.context,
        protected=cluster.protected,
        kubernetes_version=cluster.kubernetes_version,
        last_seen_at=cluster.last_seen_at,
        status=cluster.status,
        control_plane_host_id=cluster.control_plane_host_id,
        member_count=members,
        has_kubeconfig=cluster.kubeconfig_secret is not None,
        version=cluster.version,
        created_at=cluster.created_at,
        updated_at=cluster.updated_at,
        warnings=tuple(warnings),
    )
