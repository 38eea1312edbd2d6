"""The wipe rule: Kubernetes PodWarden installed itself does not protect a host.

A host PodWarden provisioned with K3s, whose cluster was then deleted, must stay
wipeable even though every later probe finds K3s on it. Kubernetes that someone
else installed (or that PodWarden only adopted with ``register-cluster``) keeps
protecting the host. The first test needs only PostgreSQL; the lifecycle test runs
real Ansible, the stand-in K3s and the real probe script against namespace hosts.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from podwarden.engine import Engine
from podwarden.engine.adapters.ssh import SshPool
from podwarden.engine.errors import ProtectedResourceError
from podwarden.engine.models.fleet import Host, HostSource, HostState
from podwarden.engine.models.jobs import Job, JobState
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.probe import ProbeService, probe_script
from podwarden.engine.services.provisioning import k3s_installed_by_podwarden
from tests.fakes import netns_fixtures
from tests.fakes.netns_hosts import NetnsFleet
from tests.integration.test_provisioning import add_host, load, output, service, standin_install

netns_fleet = netns_fixtures.netns_fleet  # the fixture

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# (kind, state) in the order they finished -> is the K3s on the host PodWarden's?
HISTORIES: list[tuple[list[tuple[str, JobState]], bool]] = [
    ([], False),
    ([("install-k3s", JobState.SUCCEEDED)], True),
    ([("join-cluster", JobState.SUCCEEDED)], True),
    ([("install-k3s", JobState.FAILED)], False),
    ([("install-k3s", JobState.SUCCEEDED), ("wipe", JobState.SUCCEEDED)], False),
    ([("install-k3s", JobState.SUCCEEDED), ("wipe", JobState.FAILED)], True),
    ([("install-k3s", JobState.SUCCEEDED), ("probe", JobState.SUCCEEDED)], True),
    ([("wipe", JobState.SUCCEEDED), ("install-k3s", JobState.SUCCEEDED)], True),
    ([("register-cluster", JobState.SUCCEEDED)], False),
    (
        [
            ("install-k3s", JobState.SUCCEEDED),
            ("wipe", JobState.SUCCEEDED),
            ("register-cluster", JobState.SUCCEEDED),
        ],
        False,
    ),
]


async def add_job(engine: Engine, host_id: uuid.UUID, kind: str, state: JobState, finished: datetime) -> None:
    async with engine.db.unit_of_work() as uow:
        uow.session.add(
            Job(
                kind=kind, title=kind, state=state, subject_type="host", subject_id=host_id, actor="system",
                started_at=finished - timedelta(seconds=5), finished_at=finished,
            )
        )  # fmt: skip


@pytest.mark.parametrize(("history", "ours"), HISTORIES)
async def test_k3s_ownership_follows_the_latest_successful_job(
    engine: Engine, history: list[tuple[str, JobState]], ours: bool
) -> None:
    host_id, other_id = uuid.uuid4(), uuid.uuid4()
    async with engine.db.unit_of_work() as uow:
        for hid, name in ((host_id, "a"), (other_id, "b")):
            uow.session.add(Host(id=hid, hostname=name, source=HostSource.MANUAL, state=HostState.DISCOVERED))
    for step, (kind, state) in enumerate(history):
        await add_job(engine, host_id, kind, state, T0 + timedelta(minutes=step))
    # Another host's install says nothing about this one (and the other way round).
    await add_job(engine, other_id, "install-k3s", JobState.SUCCEEDED, T0 + timedelta(hours=1))
    async with engine.db.session() as session:
        got = (
            await session.execute(select(k3s_installed_by_podwarden(Host.id)).where(Host.id == host_id))
        ).scalar()
    assert bool(got) is ours


# -- the whole story on a real host (root) ------------------------------------------------------


def prefixed_probe(prefix: Path) -> str:
    """The real probe script, looking for K3s under the test's install prefix."""
    text = probe_script()
    for path in ("/usr/local/bin/k3s", "/etc/rancher/k3s/k3s.yaml"):
        assert path in text
        text = text.replace(path, f"{prefix}{path}")
    return text


@pytest.mark.root
async def test_podwarden_k3s_stays_wipeable_after_its_cluster_is_deleted(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet, tmp_path: Path
) -> None:
    h = netns_fleet.hosts[3]
    host_id = await add_host(engine, admin, netns_fleet, h)
    svc = service(engine, tmp_path)
    probe = ProbeService(
        engine.context,
        jobs=engine.jobs,
        secrets=engine.secrets,
        ssh=SshPool(agent_path="", connect_timeout=5.0, command_timeout=30.0),
        script=prefixed_probe(tmp_path),
    )

    job = await svc.provision(admin, host_id, role="server")
    assert job.state is JobState.SUCCEEDED, (job.error, await output(engine, admin, job))
    cluster_id = (await load(engine, host_id)).cluster_id
    assert cluster_id is not None

    # A probe finds PodWarden's K3s: detected, but it does not protect the host.
    report = await probe.probe_hosts(admin, [host_id])
    assert not report.failed, report.job_error
    host = await load(engine, host_id)
    assert host.kubernetes_detected and not host.protected
    with pytest.raises(ProtectedResourceError, match="member of a cluster"):
        await svc.wipe(admin, host_id)  # still in its cluster

    await engine.clusters.delete_cluster(admin, cluster_id)
    await probe.probe_hosts(admin, [host_id])  # K3s is still there
    host = await load(engine, host_id)
    assert host.state is HostState.PROVISIONED and host.cluster_id is None
    assert host.kubernetes_detected and not host.protected
    with pytest.raises(ProtectedResourceError, match="wipe it first"):
        await svc.provision(admin, host_id, role="server")  # not on top of the old K3s

    wiped = await svc.wipe(admin, host_id)
    assert wiped.state is JobState.SUCCEEDED, (wiped.error, await output(engine, admin, wiped))
    host = await load(engine, host_id)
    assert host.state is HostState.DISCOVERED and not host.kubernetes_detected
    assert not (tmp_path / "usr/local/bin/k3s").exists()

    # Someone else installs K3s afterwards: that one protects the host again.
    shutil.rmtree(tmp_path / "usr/local/bin")  # the wipe left the empty folder
    standin_install(h, tmp_path)
    await probe.probe_hosts(admin, [host_id])
    host = await load(engine, host_id)
    assert host.kubernetes_detected and host.protected
    with pytest.raises(ProtectedResourceError, match="Kubernetes was detected"):
        await svc.wipe(admin, host_id)


@pytest.mark.root
async def test_kubernetes_found_on_a_fresh_host_protects_it(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet, tmp_path: Path
) -> None:
    h = netns_fleet.hosts[2]
    standin_install(h, tmp_path)
    host_id = await add_host(engine, admin, netns_fleet, h)
    probe = ProbeService(
        engine.context,
        jobs=engine.jobs,
        secrets=engine.secrets,
        ssh=SshPool(agent_path="", connect_timeout=5.0, command_timeout=30.0),
        script=prefixed_probe(tmp_path),
    )
    report = await probe.probe_hosts(admin, [host_id])
    assert not report.failed, report.job_error
    host = await load(engine, host_id)
    assert host.kubernetes_detected and host.protected
    with pytest.raises(ProtectedResourceError, match="Kubernetes was detected"):
        await service(engine, tmp_path).wipe(admin, host_id)
    assert [j.kind for j in await engine.jobs.list_jobs(admin)] == ["probe"]
