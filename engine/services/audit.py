"""The consistency audit: findings about the fleet, kept as system messages.

:meth:`AuditService.run_audit` (the audit loop's tick, every 15 minutes by
default) compares what PodWarden records with itself and with each cluster's
Kubernetes API, and keeps one open ``system_messages`` row per finding:

================================  ==========  =========================================
kind                              severity    finding
================================  ==========  =========================================
``cluster_unreachable``           critical    listing the cluster's nodes failed (short
                                              timeout) or the cluster refused the request
``orphaned_host``                 warning     a host marked ``in_cluster`` without a cluster
``unknown_node``                  error       a Kubernetes node whose name matches no
                                              member host's hostname
``deployment_orphaned``           warning     a deployment whose cluster or stack is gone
``host_stale_probe``              warning     a provisioned / cluster host without probe
                                              data for more than 30 minutes
``tailscale_name_drift``          info        the Tailscale name's first label differs
                                              from the hostname
================================  ==========  =========================================

Messages are matched by ``(kind, subject)`` (the subject is the id of what the
finding is about): a finding seen again updates ``last_seen`` (and its text),
``first_seen`` stays; an open message whose finding disappeared gets
``resolved_at``; a finding that comes back after being resolved opens a new row
(the old one stays as history). When a cluster cannot be reached its
``unknown_node`` messages are left as they are: nothing is known about its nodes.
The whole comparison is written in one transaction under an advisory lock, so two
audits never interleave. Only the kinds above are touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import insert, or_, select, text, update

from podwarden.engine.adapters.kube import KubeClient
from podwarden.engine.errors import ExternalServiceError, NotFoundError, PodWardenError, ValidationError
from podwarden.engine.models.access import SystemMessage
from podwarden.engine.models.fleet import Cluster, Host, HostState
from podwarden.engine.models.workloads import Deployment, Stack
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Context, Service, now
from podwarden.engine.services.secrets import SecretsService

__all__ = [
    "AUDIT_KINDS",
    "AUDIT_LOCK",
    "AuditResult",
    "AuditService",
    "Finding",
    "SystemMessageInfo",
]

log = logging.getLogger(__name__)

AUDIT_LOCK: Final = 0x50570004  # pg_advisory_xact_lock key (see discovery.py, users.py, listen.py)
STALE_PROBE_AFTER: Final = timedelta(minutes=30)
KUBE_TIMEOUT: Final = 10.0  # seconds per cluster request, at most Settings.timeouts.kube_request
MAX_LIST_LIMIT: Final = 500
_SUBJECT_MAX: Final = 256

CLUSTER_UNREACHABLE: Final = "cluster_unreachable"
ORPHANED_HOST: Final = "orphaned_host"
UNKNOWN_NODE: Final = "unknown_node"
DEPLOYMENT_ORPHANED: Final = "deployment_orphaned"
HOST_STALE_PROBE: Final = "host_stale_probe"
TAILSCALE_NAME_DRIFT: Final = "tailscale_name_drift"
AUDIT_KINDS: Final = (
    CLUSTER_UNREACHABLE,
    ORPHANED_HOST,
    UNKNOWN_NODE,
    DEPLOYMENT_ORPHANED,
    HOST_STALE_PROBE,
    TAILSCALE_NAME_DRIFT,
)
_SEVERITY_RANK: Final = {"critical": 3, "error": 2, "warning": 1, "info": 0}


@dataclass(frozen=True)
class Finding:
    """One thing the audit found (becomes or refreshes a system message)."""

    kind: str
    severity: str
    subject: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.subject)


@dataclass(frozen=True)
class AuditResult:
    """What one audit run found and wrote; ``duration`` in seconds."""

    findings: int
    opened: int
    updated: int
    resolved: int
    clusters_checked: int
    clusters_unreachable: int
    duration: float


@dataclass(frozen=True)
class SystemMessageInfo:
    """A system message as callers see it."""

    id: uuid.UUID
    severity: str
    kind: str
    subject: str
    message: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    details: dict[str, Any]

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None


def _subject(*parts: object) -> str:
    return "/".join(str(p) for p in parts)[:_SUBJECT_MAX]


def _first_label(name: str) -> str:
    return name.strip().rstrip(".").split(".", 1)[0].lower()


@dataclass
class _ClusterCheck:
    findings: list[Finding]
    reachable: bool


class AuditService(Service):
    def __init__(self, ctx: Context, secrets: SecretsService | None = None) -> None:
        super().__init__(ctx)
        self._secrets = secrets if secrets is not None else SecretsService(ctx)

    # -- reading ---------------------------------------------------------------------------
    @operation(Permissions.READ, Access.READ)
    async def list_messages(
        self, actor: Actor, *, include_resolved: bool = False, limit: int = 100
    ) -> list[SystemMessageInfo]:
        """System messages of the consistency audit and others: open ones first, most
        severe first, then most recently seen (``limit`` 1–500)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValidationError(
                f"limit is a whole number from 1 to {MAX_LIST_LIMIT}.", {"limit": "out of range"}
            )
        async with self.db.session() as session:
            stmt = select(SystemMessage)
            if not include_resolved:
                stmt = stmt.where(SystemMessage.resolved_at.is_(None))
            stmt = stmt.order_by(
                SystemMessage.resolved_at.is_not(None),
                text(
                    "CASE system_messages.severity WHEN 'critical' THEN 0 WHEN 'error' THEN 1 "
                    "WHEN 'warning' THEN 2 ELSE 3 END"
                ),
                SystemMessage.last_seen.desc(),
                SystemMessage.id,
            ).limit(limit)
            rows = (await session.execute(stmt)).scalars().all()
        return [_info(m) for m in rows]

    # -- the audit -------------------------------------------------------------------------
    async def run_audit(self) -> AuditResult:
        """One audit run as PodWarden itself (the periodic loop's task)."""
        started = time.perf_counter()
        at = now()
        findings, clusters = await self._fleet_findings(at)
        checks = await asyncio.gather(*(self._check_cluster(c, members) for c, members in clusters))
        inconclusive: set[str] = set()
        for (cluster, _), check in zip(clusters, checks, strict=True):
            findings.extend(check.findings)
            if not check.reachable:
                inconclusive.add(_subject(cluster.id, ""))
        opened, updated, resolved = await self._write(findings, inconclusive, at)
        result = AuditResult(
            findings=len(findings),
            opened=opened,
            updated=updated,
            resolved=resolved,
            clusters_checked=len(clusters),
            clusters_unreachable=sum(1 for c in checks if not c.reachable),
            duration=time.perf_counter() - started,
        )
        log.info(
            "consistency audit: %d finding(s), %d new, %d resolved, %d/%d cluster(s) unreachable in %.3f s",
            result.findings,
            result.opened,
            result.resolved,
            result.clusters_unreachable,
            result.clusters_checked,
            result.duration,
        )
        return result

    async def _fleet_findings(self, at: datetime) -> tuple[list[Finding], list[tuple[Cluster, list[str]]]]:
        """Findings from the database alone, and the clusters (with their member
        hostnames) to look into."""
        findings: list[Finding] = []
        async with self.db.session() as session:
            clusters = list((await session.execute(select(Cluster).order_by(Cluster.name))).scalars())
            cluster_names = {c.id: c.name for c in clusters}
            hosts = (
                await session.execute(
                    select(
                        Host.id,
                        Host.hostname,
                        Host.state,
                        Host.cluster_id,
                        Host.last_probe_at,
                        Host.tailscale_name,
                    )
                )
            ).all()
            deployments = (
                await session.execute(
                    select(
                        Deployment.id,
                        Deployment.namespace,
                        Deployment.name,
                        Deployment.cluster_id,
                        Deployment.stack_id,
                    )
                    .outerjoin(Cluster, Cluster.id == Deployment.cluster_id)
                    .outerjoin(Stack, Stack.id == Deployment.stack_id)
                    .where(or_(Cluster.id.is_(None), Stack.id.is_(None)))
                )
            ).all()
        members: dict[uuid.UUID, list[str]] = {c.id: [] for c in clusters}
        for host_id, hostname, state, cluster_id, last_probe_at, ts_name in hosts:
            if cluster_id is not None and cluster_id in members:
                members[cluster_id].append(hostname)
            if (state is HostState.IN_CLUSTER or cluster_id is not None) and cluster_id not in cluster_names:
                findings.append(
                    Finding(
                        ORPHANED_HOST,
                        "warning",
                        _subject(host_id),
                        f"Host {hostname} is marked as a cluster member but belongs to no cluster.",
                        {"host_id": str(host_id), "hostname": hostname, "state": str(state)},
                    )
                )
            in_fleet = cluster_id is not None or state in (HostState.PROVISIONED, HostState.IN_CLUSTER)
            if in_fleet and (last_probe_at is None or at - last_probe_at > STALE_PROBE_AFTER):
                since = (
                    "never probed"
                    if last_probe_at is None
                    else f"last probed {last_probe_at:%Y-%m-%d %H:%M} UTC"
                )
                findings.append(
                    Finding(
                        HOST_STALE_PROBE,
                        "warning",
                        _subject(host_id),
                        f"Host {hostname} has no probe data from the last 30 minutes ({since}).",
                        {
                            "host_id": str(host_id),
                            "hostname": hostname,
                            "last_probe_at": None if last_probe_at is None else last_probe_at.isoformat(),
                        },
                    )
                )
            if ts_name and hostname and _first_label(ts_name) != _first_label(hostname):
                findings.append(
                    Finding(
                        TAILSCALE_NAME_DRIFT,
                        "info",
                        _subject(host_id),
                        f"Host {hostname} is called {ts_name} in Tailscale.",
                        {"host_id": str(host_id), "hostname": hostname, "tailscale_name": ts_name},
                    )
                )
        for dep_id, namespace, name, cluster_id, stack_id in deployments:
            gone = []
            if cluster_id is None or cluster_id not in cluster_names:
                gone.append("cluster")
            if stack_id is None:  # a set stack_id names an existing stack (foreign key)
                gone.append("stack")
            findings.append(
                Finding(
                    DEPLOYMENT_ORPHANED,
                    "warning",
                    _subject(dep_id),
                    f"Deployment {namespace}/{name} has lost its {' and '.join(gone)}.",
                    {"deployment_id": str(dep_id), "namespace": namespace, "name": name, "missing": gone},
                )
            )
        return findings, [(c, members[c.id]) for c in clusters if c.kubeconfig_secret is not None]

    async def _check_cluster(self, cluster: Cluster, hostnames: Iterable[str]) -> _ClusterCheck:
        """List the cluster's nodes: unreachable → critical; nodes unknown to PodWarden → error."""
        timeout = min(KUBE_TIMEOUT, self.ctx.settings.timeouts.kube_request)
        subject = _subject(cluster.id)
        client: KubeClient | None = None
        try:
            assert cluster.kubeconfig_secret is not None
            kubeconfig = await self._secrets.reveal(cluster.kubeconfig_secret)
            client = await asyncio.to_thread(
                lambda: KubeClient(kubeconfig, request_timeout=timeout, label=cluster.name)
            )
            nodes = await client.list_nodes()
        except (ExternalServiceError, NotFoundError, ValidationError) as exc:
            reason = str(exc)
            finding = Finding(
                CLUSTER_UNREACHABLE,
                "critical",
                subject,
                f"Cluster {cluster.name} cannot be reached: {reason}",
                {"cluster_id": str(cluster.id), "cluster": cluster.name, "reason": reason},
            )
            return _ClusterCheck([finding], reachable=False)
        except PodWardenError as exc:  # e.g. a kubeconfig that no longer parses
            finding = Finding(
                CLUSTER_UNREACHABLE,
                "critical",
                subject,
                f"Cluster {cluster.name} cannot be used: {exc}",
                {"cluster_id": str(cluster.id), "cluster": cluster.name, "reason": str(exc)},
            )
            return _ClusterCheck([finding], reachable=False)
        finally:
            if client is not None:
                await client.aclose()
        known = {_first_label(h) for h in hostnames}
        findings = [
            Finding(
                UNKNOWN_NODE,
                "error",
                _subject(cluster.id, node.name),
                f"Kubernetes node {node.name} of cluster {cluster.name} matches no host in PodWarden.",
                {"cluster_id": str(cluster.id), "cluster": cluster.name, "node": node.name},
            )
            for node in nodes
            if _first_label(node.name) not in known
        ]
        return _ClusterCheck(findings, reachable=True)

    async def _write(
        self, findings: list[Finding], inconclusive: set[str], at: datetime
    ) -> tuple[int, int, int]:
        """Upsert the findings by (kind, subject) and resolve what disappeared."""
        wanted: dict[tuple[str, str], Finding] = {}
        for finding in findings:
            wanted.setdefault(finding.key, finding)  # one message per (kind, subject)
        open_columns = (
            SystemMessage.id,
            SystemMessage.kind,
            SystemMessage.subject,
            SystemMessage.severity,
            SystemMessage.message,
            SystemMessage.details,
        )
        # Set-based: one SELECT of the open messages, then one UPDATE for the ones only
        # seen again, one per changed message, one for the resolved, one multi-row
        # INSERT (a 10,000-host fleet has ~10,000 messages; the ORM took seconds).
        seen_again: list[uuid.UUID] = []
        changed: list[dict[str, Any]] = []
        gone: list[uuid.UUID] = []
        async with self.db.unit_of_work() as uow:
            session = uow.session
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
            open_rows = await session.execute(
                select(*open_columns).where(
                    SystemMessage.kind.in_(AUDIT_KINDS), SystemMessage.resolved_at.is_(None)
                )
            )
            seen: set[tuple[str, str]] = set()
            for row in open_rows:
                key = (row.kind, row.subject)
                match = wanted.get(key)
                if match is None or key in seen:
                    keep = row.kind == UNKNOWN_NODE and any(row.subject.startswith(p) for p in inconclusive)
                    if not keep or key in seen:
                        gone.append(row.id)
                    continue
                seen.add(key)
                if (row.severity, row.message, row.details) == (match.severity, match.message, match.details):
                    seen_again.append(row.id)
                else:
                    changed.append(
                        {
                            "id": row.id,
                            "last_seen": at,
                            "severity": match.severity,
                            "message": match.message,
                            "details": match.details,
                        }
                    )
            if seen_again:
                await session.execute(
                    update(SystemMessage).where(SystemMessage.id.in_(seen_again)).values(last_seen=at)
                )
            if changed:  # ORM bulk UPDATE by primary key: one executemany
                await session.execute(update(SystemMessage), changed)
            if gone:
                await session.execute(
                    update(SystemMessage).where(SystemMessage.id.in_(gone)).values(resolved_at=at)
                )
            new_rows = [
                {
                    "severity": f.severity,
                    "kind": f.kind,
                    "subject": f.subject,
                    "message": f.message,
                    "first_seen": at,
                    "last_seen": at,
                    "resolved_at": None,
                    "details": f.details,
                }
                for key, f in wanted.items()
                if key not in seen
            ]
            inserted: list[uuid.UUID] = []
            if new_rows:
                result = await session.execute(insert(SystemMessage).returning(SystemMessage.id), new_rows)
                inserted = list(result.scalars())
            uow.announce("system_messages", [*seen_again, *(c["id"] for c in changed), *gone, *inserted])
        return len(inserted), len(seen_again) + len(changed), len(gone)


def _info(m: SystemMessage) -> SystemMessageInfo:
    return SystemMessageInfo(
        id=m.id,
        severity=m.severity,
        kind=m.kind,
        subject=m.subject,
        message=m.message,
        first_seen=m.first_seen,
        last_seen=m.last_seen,
        resolved_at=m.resolved_at,
        details=dict(m.details),
    )
