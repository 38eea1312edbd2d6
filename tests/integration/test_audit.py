"""The consistency audit against a real PostgreSQL and kmock's Kubernetes API."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from podwarden.engine import Engine
from podwarden.engine.errors import ValidationError
from podwarden.engine.models.access import SystemMessage
from podwarden.engine.models.fleet import Host, HostSource, HostState
from podwarden.engine.models.workloads import Deployment, Stack
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.audit import AuditService
from podwarden.engine.services.clusters import ClustersService
from tests.fakes import kube as fake_module
from tests.fakes.kube import KubeAPI, kubeconfig_text, make_node

kube_api = fake_module.kube_api  # fixture


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def clusters(engine: Engine) -> AsyncIterator[ClustersService]:
    service = ClustersService(engine.context)
    yield service
    await service.close()


async def add_host(engine: Engine, hostname: str, state: HostState, **values: object) -> uuid.UUID:
    async with engine.db.unit_of_work() as uow:
        host = Host(hostname=hostname, source=HostSource.MANUAL, state=state, **values)
        uow.session.add(host)
        await uow.flush()
        return host.id


async def messages(engine: Engine, *, open_only: bool = False) -> dict[tuple[str, str], SystemMessage]:
    """Messages by (kind, subject); the open one wins over resolved ones."""
    async with engine.db.session() as session:
        stmt = select(SystemMessage).order_by(SystemMessage.first_seen)
        if open_only:
            stmt = stmt.where(SystemMessage.resolved_at.is_(None))
        rows = (await session.execute(stmt)).scalars().all()
    return {(m.kind, m.subject): m for m in rows}


async def test_audit_creates_updates_and_resolves_findings(
    engine: Engine, clusters: ClustersService, kube_api: KubeAPI, operator: Actor, admin: Actor, viewer: Actor
) -> None:
    kube_api.add("nodes", make_node("node-a"))
    kube_api.add("nodes", make_node("stranger"))
    lab = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    dead = await clusters.create_from_kubeconfig(
        operator, "dead", kubeconfig_text(f"http://127.0.0.1:{closed_port()}")
    )
    fresh = datetime.now(UTC)
    member = await add_host(
        engine, "node-a.lan", HostState.IN_CLUSTER, cluster_id=lab.id, last_probe_at=fresh
    )
    orphan = await add_host(engine, "lost", HostState.IN_CLUSTER, last_probe_at=fresh)
    stale = await add_host(engine, "old", HostState.PROVISIONED, last_probe_at=fresh - timedelta(hours=2))
    never = await add_host(engine, "fresh-box", HostState.PROVISIONED)
    await add_host(engine, "bare", HostState.DISCOVERED)  # not in the fleet yet: no probe expected
    drift = await add_host(
        engine, "web1", HostState.DISCOVERED, tailscale_name="web-01.tail1234.ts.net", tailscale_id="n1"
    )
    await add_host(
        engine, "web2", HostState.DISCOVERED, tailscale_name="web2.tail1234.ts.net", tailscale_id="n2"
    )
    async with engine.db.unit_of_work() as uow:
        stack = Stack(name="whoami", kind="service", image="traefik/whoami")
        uow.session.add(stack)
        await uow.flush()
        ok = Deployment(name="ok", namespace="apps", cluster_id=lab.id, stack_id=stack.id)
        no_cluster = Deployment(name="adrift", namespace="apps", cluster_id=None, stack_id=stack.id)
        no_stack = Deployment(name="bare", namespace="apps", cluster_id=lab.id, stack_id=None)
        uow.session.add_all([ok, no_cluster, no_stack])
        await uow.flush()

    audit = AuditService(engine.context)
    first = await audit.run_audit()
    expected = {
        ("cluster_unreachable", str(dead.id)): "critical",
        ("unknown_node", f"{lab.id}/stranger"): "error",
        ("orphaned_host", str(orphan)): "warning",
        ("host_stale_probe", str(stale)): "warning",
        ("host_stale_probe", str(never)): "warning",
        ("tailscale_name_drift", str(drift)): "info",
        ("deployment_orphaned", str(no_cluster.id)): "warning",
        ("deployment_orphaned", str(no_stack.id)): "warning",
    }
    found = await messages(engine)
    assert {k: m.severity for k, m in found.items()} == expected
    assert (first.findings, first.opened, first.updated, first.resolved) == (8, 8, 0, 0)
    assert (first.clusters_checked, first.clusters_unreachable) == (2, 1)
    assert "dead" in found[("cluster_unreachable", str(dead.id))].message
    assert found[("unknown_node", f"{lab.id}/stranger")].details["node"] == "stranger"
    assert "cluster" in found[("deployment_orphaned", str(no_cluster.id))].message
    assert "stack" in found[("deployment_orphaned", str(no_stack.id))].message
    assert all(m.first_seen == m.last_seen and m.resolved_at is None for m in found.values())
    assert member not in {uuid.UUID(s) for k, s in found if k != "unknown_node"}

    # The same findings again: the same rows, first_seen kept, last_seen moved on.
    second = await audit.run_audit()
    again = await messages(engine)
    assert (second.opened, second.updated, second.resolved) == (0, 8, 0)
    assert set(again) == set(expected)
    for key, message in again.items():
        assert message.id == found[key].id and message.first_seen == found[key].first_seen
        assert message.last_seen > found[key].last_seen

    # A finding whose text changes updates its open message in place.
    async with engine.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Host).where(Host.id == drift).values(tailscale_name="www-01.tail1234.ts.net")
        )
    renamed = await audit.run_audit()
    assert (renamed.opened, renamed.updated, renamed.resolved) == (0, 8, 0)
    message = (await messages(engine))[("tailscale_name_drift", str(drift))]
    assert message.id == found[("tailscale_name_drift", str(drift))].id
    assert "www-01" in message.message and message.details["tailscale_name"] == "www-01.tail1234.ts.net"

    # Fix some: probe the stale host, register the stranger, delete the dead cluster.
    async with engine.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Host).where(Host.id == stale).values(last_probe_at=datetime.now(UTC))
        )
    await add_host(engine, "stranger", HostState.IN_CLUSTER, cluster_id=lab.id, last_probe_at=fresh)
    await clusters.delete_cluster(admin, dead.id)
    third = await audit.run_audit()
    assert (third.opened, third.resolved) == (0, 3)
    still_open = await messages(engine, open_only=True)
    gone = {("cluster_unreachable", str(dead.id)), ("unknown_node", f"{lab.id}/stranger")}
    gone.add(("host_stale_probe", str(stale)))
    assert set(still_open) == set(expected) - gone
    resolved = await messages(engine)
    assert all(resolved[k].resolved_at is not None for k in gone)

    listed = await audit.list_messages(viewer)
    assert {(m.kind, m.subject) for m in listed} == set(still_open)
    assert [m.severity for m in listed] == sorted(
        (m.severity for m in listed), key=["critical", "error", "warning", "info"].index
    )
    everything = await audit.list_messages(viewer, include_resolved=True)
    assert len(everything) == 8 and [m.resolved for m in everything][-3:] == [True, True, True]
    assert len(await audit.list_messages(viewer, limit=2)) == 2
    with pytest.raises(ValidationError):
        await audit.list_messages(viewer, limit=0)

    # A finding that comes back opens a new message; the resolved one stays as history.
    async with engine.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Host).where(Host.id == stale).values(last_probe_at=datetime.now(UTC) - timedelta(hours=1))
        )
    fourth = await audit.run_audit()
    assert fourth.opened == 1
    async with engine.db.session() as session:
        rows = (
            await session.execute(
                select(SystemMessage).where(
                    SystemMessage.kind == "host_stale_probe", SystemMessage.subject == str(stale)
                )
            )
        ).scalars()
        assert sorted(m.resolved_at is None for m in rows) == [False, True]


async def test_unreachable_cluster_keeps_its_node_findings(
    engine: Engine, clusters: ClustersService, kube_api: KubeAPI, operator: Actor
) -> None:
    kube_api.add("nodes", make_node("ghost"))
    lab = await clusters.create_from_kubeconfig(operator, "lab", kube_api.kubeconfig())
    audit = AuditService(engine.context)
    await audit.run_audit()
    ghost = ("unknown_node", f"{lab.id}/ghost")
    assert set(await messages(engine, open_only=True)) == {ghost}

    # The cluster stops answering: it is critical, and nothing is known about its nodes,
    # so the ghost node's message stays open rather than being resolved.
    await clusters.update_cluster(
        operator,
        lab.id,
        {"kubeconfig": kubeconfig_text(f"http://127.0.0.1:{closed_port()}")},
        expected_version=lab.version,
    )
    result = await audit.run_audit()
    assert result.clusters_unreachable == 1 and result.resolved == 0
    assert set(await messages(engine, open_only=True)) == {ghost, ("cluster_unreachable", str(lab.id))}

    # A cluster whose credentials are refused is reported the same way.
    current = await clusters.get_cluster(operator, lab.id)
    await clusters.update_cluster(
        operator, lab.id, {"kubeconfig": kube_api.kubeconfig(token="wrong")}, expected_version=current.version
    )
    await audit.run_audit()
    reason = (await messages(engine, open_only=True))[("cluster_unreachable", str(lab.id))].details["reason"]
    assert reason

    # Reachable again with the right token: the cluster message resolves, the ghost is still there.
    current = await clusters.get_cluster(operator, lab.id)
    await clusters.update_cluster(
        operator, lab.id, {"kubeconfig": kube_api.kubeconfig()}, expected_version=current.version
    )
    result = await audit.run_audit()
    assert result.resolved == 1
    assert set(await messages(engine, open_only=True)) == {ghost}
