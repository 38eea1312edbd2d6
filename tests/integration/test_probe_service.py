"""ProbeService against real namespace hosts and a real database (root only)."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from podwarden.engine import Engine
from podwarden.engine.adapters.ssh import HostKeyChangedError, SshPool
from podwarden.engine.db.listen import Change
from podwarden.engine.errors import (
    ConflictError,
    NotFoundError,
    PermanentServiceError,
    PermissionDenied,
    TemporaryServiceError,
    ValidationError,
)
from podwarden.engine.models.fleet import HostState
from podwarden.engine.models.jobs import JobState
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.probe import ProbeReport, ProbeService
from tests.fakes import netns_fixtures
from tests.fakes.host_rows import add_namespace_host, load_host
from tests.fakes.netns_hosts import PLAIN_USER, NetnsFleet

pytestmark = pytest.mark.root

netns_fleet = netns_fixtures.netns_fleet  # the fixture


def machine_memory_bytes() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def machine_cpu_count() -> int:
    with open("/proc/cpuinfo") as cpuinfo:
        return sum(1 for line in cpuinfo if re.match(r"processor\s*:", line))


def service(engine: Engine, **pool_args: float) -> ProbeService:
    pool_args.setdefault("connect_timeout", 5.0)
    pool_args.setdefault("command_timeout", 30.0)
    ssh = SshPool(agent_path="", **pool_args)  # type: ignore[arg-type]
    return ProbeService(engine.context, jobs=engine.jobs, secrets=engine.secrets, ssh=ssh)


async def output_of(engine: Engine, admin: Actor, report: ProbeReport) -> str:
    return await engine.jobs.read_output(admin, report.job_id)


# --- success ------------------------------------------------------------------------------


async def test_probe_three_hosts_stores_real_facts(
    engine: Engine, admin: Actor, operator: Actor, netns_fleet: NetnsFleet
) -> None:
    hosts = netns_fleet.hosts[:3]
    ids = [await add_namespace_host(engine, admin, netns_fleet, h) for h in hosts]

    report = await service(engine).probe_hosts(operator, ids)

    assert report.job_state is JobState.SUCCEEDED, report.job_error
    assert [p.host_id for p in report.hosts] == ids and all(p.ok for p in report.hosts)
    for host, host_id in zip(hosts, ids, strict=True):
        row = await load_host(engine, host_id)
        assert row.hostname == f"node-{host.index}"  # the probe does not rename hosts
        assert row.cpu_cores == machine_cpu_count()
        assert row.memory_bytes == machine_memory_bytes()
        assert row.cpu_model
        assert row.network_types == ["lan"]
        assert row.facts["hostname"] == host.hostname
        assert row.facts["fqdn"] == f"{host.hostname}.fleet.test"
        eth0 = next(i for i in row.facts["interfaces"] if i["name"] == "eth0")
        assert f"{host.address}/24" in eth0["addresses"]
        assert row.gpu_count == 0 and row.gpu_model is None
        assert row.last_probe_at is not None
        assert row.kubernetes_detected is False and row.protected is False
        assert row.ssh_known_hosts == host.known_hosts_line()
        assert row.ssh_host_key_pending is None
        assert row.state is HostState.DISCOVERED
    output = await output_of(engine, admin, report)
    lines = output.splitlines()
    assert len(lines) == 3
    for host in hosts:
        assert any(line.startswith(f"node-{host.index} ({host.address}): ok") for line in lines)
    assert "PRIVATE KEY" not in output


async def test_first_contact_pins_and_the_next_probe_verifies(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet
) -> None:
    host = netns_fleet.hosts[0]
    host_id = await add_namespace_host(engine, admin, netns_fleet, host)
    probe = service(engine)

    version = (await load_host(engine, host_id)).version
    listener = await engine.listener()
    seen: list[Change] = []
    listener.subscribe(seen.append)

    first = await probe.probe_hosts(admin, [host_id])
    assert first.hosts[0].host_key_recorded
    row = await load_host(engine, host_id)
    assert row.ssh_known_hosts == host.known_hosts_line()
    assert row.version == version + 1  # a probe is a save: stale editors get a ConflictError
    pinned = row.ssh_known_hosts
    for _ in range(50):  # open desktops hear about the change
        if any(c.table == "hosts" and str(host_id) in (c.ids or ()) for c in seen):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"no change notice for the probed host: {seen}")

    second = await probe.probe_hosts(admin, [host_id])
    assert second.job_state is JobState.SUCCEEDED
    assert not second.hosts[0].host_key_recorded
    assert (await load_host(engine, host_id)).ssh_known_hosts == pinned


async def test_a_non_root_user_can_probe(engine: Engine, admin: Actor, netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[1]
    host_id = await add_namespace_host(engine, admin, netns_fleet, host, user=PLAIN_USER)
    report = await service(engine).probe_hosts(admin, [host_id])
    assert report.job_state is JobState.SUCCEEDED, report.job_error
    assert (await load_host(engine, host_id)).network_types == ["lan"]


async def test_kubernetes_found_makes_the_host_protected(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet
) -> None:
    host = netns_fleet.hosts[2]
    host_id = await add_namespace_host(engine, admin, netns_fleet, host)
    with host.k3s_installed():
        report = await service(engine).probe_hosts(admin, [host_id])
    assert report.job_state is JobState.SUCCEEDED, report.job_error
    row = await load_host(engine, host_id)
    assert row.kubernetes_detected and row.protected
    assert "k3s_binary" in row.facts["kubernetes_signals"]
    # Without Kubernetes any more, the host is still protected (only people lift that).
    await service(engine).probe_hosts(admin, [host_id])
    row = await load_host(engine, host_id)
    assert row.kubernetes_detected is False and row.protected is True


# --- host keys ----------------------------------------------------------------------------


async def test_changed_host_key_is_refused_until_an_admin_accepts_it(
    engine: Engine, admin: Actor, operator: Actor, netns_fleet: NetnsFleet
) -> None:
    host = netns_fleet.hosts[1]
    host_id = await add_namespace_host(engine, admin, netns_fleet, host)
    probe = service(engine)
    await probe.probe_hosts(admin, [host_id])
    before = await load_host(engine, host_id)

    with host.changed_host_key() as new_key:
        report = await probe.probe_hosts(operator, [host_id])
        outcome = report.hosts[0]
        assert isinstance(outcome.error, HostKeyChangedError)
        assert report.job_state is JobState.FAILED
        assert "has changed" in report.job_error
        after = await load_host(engine, host_id)
        assert after.ssh_host_key_pending == f"{host.address} {new_key}"
        assert after.ssh_known_hosts == before.ssh_known_hosts
        assert (after.facts, after.last_probe_at) == (before.facts, before.last_probe_at)
        assert "FAILED: The SSH host key of" in await output_of(engine, admin, report)

        with pytest.raises(PermissionDenied):
            await probe.accept_host_key(operator, host_id)
        with pytest.raises(ConflictError):
            await probe.accept_host_key(admin, host_id, expected_key=before.ssh_known_hosts)
        accepted = await probe.accept_host_key(admin, host_id, expected_key=f"{host.address} {new_key}")
        assert accepted == f"{host.address} {new_key}"
        row = await load_host(engine, host_id)
        assert row.ssh_known_hosts == accepted and row.ssh_host_key_pending is None

        again = await probe.probe_hosts(operator, [host_id])
        assert again.job_state is JobState.SUCCEEDED, again.job_error
        assert (await load_host(engine, host_id)).last_probe_at > before.last_probe_at  # type: ignore[operator]

    with pytest.raises(ConflictError):  # nothing pending any more
        await probe.accept_host_key(admin, host_id)


async def test_dismissing_a_pending_key_keeps_the_old_pin(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet
) -> None:
    host, other = netns_fleet.hosts[0], netns_fleet.hosts[1]
    host_id = await add_namespace_host(
        engine, admin, netns_fleet, host, ssh_known_hosts=f"{host.address} {other.host_key}"
    )
    report = await service(engine).probe_hosts(admin, [host_id])
    assert isinstance(report.hosts[0].error, HostKeyChangedError)
    assert (await load_host(engine, host_id)).ssh_host_key_pending == host.known_hosts_line()
    await service(engine).dismiss_host_key(admin, host_id)
    row = await load_host(engine, host_id)
    assert row.ssh_host_key_pending is None and row.ssh_known_hosts == f"{host.address} {other.host_key}"


# --- failures -----------------------------------------------------------------------------


async def test_wrong_key_fails_that_host_only_and_leaves_it_untouched(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet
) -> None:
    good, bad = netns_fleet.hosts[0], netns_fleet.hosts[2]
    good_id = await add_namespace_host(engine, admin, netns_fleet, good)
    bad_id = await add_namespace_host(engine, admin, netns_fleet, bad)
    before = await load_host(engine, bad_id)
    with bad.wrong_authorized_key():
        report = await service(engine).probe_hosts(admin, [good_id, bad_id])
    assert report.job_state is JobState.FAILED
    assert report.for_host(good_id).ok
    error = report.for_host(bad_id).error
    assert isinstance(error, PermanentServiceError) and not error.temporary
    assert str(error) == f"SSH key rejected by root@{bad.address}:22."
    assert report.job_error == f"1 of 2 hosts could not be probed: node-{bad.index}: {error}"
    after = await load_host(engine, bad_id)
    assert after.version == before.version and after.ssh_known_hosts is None and after.facts == {}
    assert (await load_host(engine, good_id)).last_probe_at is not None
    output = await output_of(engine, admin, report)
    assert f"node-{bad.index} ({bad.address}): FAILED: SSH key rejected" in output


async def test_unreachable_and_stopped_hosts_are_temporary_failures(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet
) -> None:
    silent, stopped = netns_fleet.hosts[3], netns_fleet.hosts[2]
    silent_id = await add_namespace_host(engine, admin, netns_fleet, silent)
    stopped_id = await add_namespace_host(engine, admin, netns_fleet, stopped)
    with silent.blackholed(), stopped.stopped():
        report = await service(engine, connect_timeout=1.0).probe_hosts(admin, [silent_id, stopped_id])
    silent_error = report.for_host(silent_id).error
    stopped_error = report.for_host(stopped_id).error
    assert isinstance(silent_error, TemporaryServiceError) and "within 1 s" in str(silent_error)
    assert isinstance(stopped_error, TemporaryServiceError) and "refused" in str(stopped_error)
    assert report.job_state is JobState.FAILED
    assert (await load_host(engine, silent_id)).last_probe_at is None


async def test_command_timeout_fails_the_host(engine: Engine, admin: Actor, netns_fleet: NetnsFleet) -> None:
    host_id = await add_namespace_host(engine, admin, netns_fleet, netns_fleet.hosts[0])
    report = await service(engine, command_timeout=0.001).probe_hosts(admin, [host_id])
    error = report.hosts[0].error
    assert isinstance(error, TemporaryServiceError) and "did not finish within 0.001 s" in str(error)
    assert (await load_host(engine, host_id)).last_probe_at is None


async def test_missing_key_secret_and_missing_address_are_per_host_reasons(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet
) -> None:
    no_secret = await add_namespace_host(
        engine, admin, netns_fleet, netns_fleet.hosts[0], ssh_key_secret="host/gone/ssh-key"
    )
    no_address = await add_namespace_host(engine, admin, netns_fleet, netns_fleet.hosts[1], ssh_address=None)
    report = await service(engine).probe_hosts(admin, [no_secret, no_address])
    assert "'host/gone/ssh-key' does not exist" in str(report.for_host(no_secret).error)
    assert isinstance(report.for_host(no_address).error, ValidationError)
    assert report.job_state is JobState.FAILED


async def test_bad_requests_are_refused_before_any_job(
    engine: Engine, admin: Actor, viewer: Actor, netns_fleet: NetnsFleet
) -> None:
    host_id = await add_namespace_host(engine, admin, netns_fleet, netns_fleet.hosts[0])
    probe = service(engine)
    with pytest.raises(PermissionDenied):
        await probe.probe_hosts(viewer, [host_id])
    with pytest.raises(ValidationError):
        await probe.probe_hosts(admin, [])
    with pytest.raises(ValidationError):
        await probe.probe_hosts(admin, ["not-a-uuid"])  # type: ignore[list-item]
    with pytest.raises(NotFoundError):
        await probe.probe_hosts(admin, [host_id, uuid.uuid4()])
    assert await engine.jobs.list_jobs(admin) == []
    assert (await load_host(engine, host_id)).last_probe_at is None


async def test_bad_probe_output_and_a_failing_script_leave_the_host_untouched(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet
) -> None:
    host_id = await add_namespace_host(engine, admin, netns_fleet, netns_fleet.hosts[0])
    before = await load_host(engine, host_id)
    ssh = SshPool(agent_path="", connect_timeout=5.0, command_timeout=30.0)

    garbled = ProbeService(engine.context, jobs=engine.jobs, secrets=engine.secrets, ssh=ssh,
                           script='printf \'{"probe_version": 1, "hostname": "x"\'\n')  # fmt: skip
    report = await garbled.probe_hosts(admin, [host_id])
    error = report.hosts[0].error
    assert isinstance(error, ValidationError) and "truncated" in str(error)

    failing = ProbeService(engine.context, jobs=engine.jobs, secrets=engine.secrets, ssh=ssh,
                           script="echo boom >&2\nexit 3\n")  # fmt: skip
    report = await failing.probe_hosts(admin, [host_id])
    error = report.hosts[0].error
    assert isinstance(error, PermanentServiceError)
    assert str(error) == (
        f"The probe script failed on root@{netns_fleet.hosts[0].address}:22 (exit status 3): boom"
    )
    after = await load_host(engine, host_id)
    assert after.version == before.version and after.facts == {} and after.ssh_known_hosts is None
