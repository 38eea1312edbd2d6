"""ProvisioningService: real Ansible against namespace hosts, with the stand-in K3s (root only).

The hosts share the machine's file system, so every K3s path is rooted under a
per-test temporary prefix (``install_prefix``); the stand-in install script
(tests/fakes/k3s_standin) refuses to write anywhere else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from podwarden.engine import Engine
from podwarden.engine.adapters.ansible import AnsibleRunner, PlaybookResult, PlaybookRun
from podwarden.engine.adapters.ssh import SshPool
from podwarden.engine.errors import PermissionDenied, ProtectedResourceError
from podwarden.engine.models.access import Secret
from podwarden.engine.models.fleet import Cluster, HostState
from podwarden.engine.models.jobs import JobState
from podwarden.engine.render.inventory import InventoryHost
from podwarden.engine.security.crypto import SecretValue
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.jobs import JobInfo
from podwarden.engine.services.provisioning import ProvisioningService, playbooks_dir
from podwarden.engine.settings import Settings
from tests.fakes import netns_fixtures
from tests.fakes.host_rows import add_namespace_host, load_host
from tests.fakes.k3s_standin import ARTIFACTS_DIR
from tests.fakes.netns_hosts import PLAIN_USER, NetnsFleet, NetnsHost

pytestmark = pytest.mark.root

netns_fleet = netns_fixtures.netns_fleet  # the fixture


def service(
    engine: Engine, prefix: Path, *, artifacts: Path = ARTIFACTS_DIR, **extra: Any
) -> ProvisioningService:
    return ProvisioningService(
        engine.context,
        jobs=engine.jobs,
        secrets=engine.secrets,
        ssh=SshPool(agent_path="", connect_timeout=5.0, command_timeout=30.0),
        artifacts_dir=artifacts,
        install_prefix=str(prefix),
        playbook_vars={"podwarden_install_base_packages": False, **extra},
    )


async def add_host(
    engine: Engine, admin: Actor, fleet: NetnsFleet, host: NetnsHost, *, user: str = "root", **columns: object
) -> uuid.UUID:
    """A namespace host row whose address and host key are already known (probed)."""
    known: dict[str, object] = {"addresses": [host.address], "ssh_known_hosts": host.known_hosts_line()}
    return await add_namespace_host(engine, admin, fleet, host, user=user, **{**known, **columns})


load = load_host


async def cluster_count(engine: Engine) -> int:
    async with engine.db.session() as session:
        return len((await session.execute(select(Cluster.id))).all())


def record(prefix: Path) -> dict[str, str]:
    lines = (prefix / "k3s-standin" / "install-record").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def standin_install(host: NetnsHost, prefix: Path) -> None:
    """Install the stand-in K3s server directly (set-up for the wipe tests)."""
    bindir = prefix / "usr/local/bin"
    bindir.mkdir(parents=True)
    (bindir / "k3s").write_bytes((ARTIFACTS_DIR / "k3s").read_bytes())
    os.chmod(bindir / "k3s", 0o755)
    done = host.exec(
        "env", f"PODWARDEN_K3S_PREFIX={prefix}", "INSTALL_K3S_SKIP_DOWNLOAD=true", "INSTALL_K3S_EXEC=server",
        f"INSTALL_K3S_BIN_DIR={bindir}", f"INSTALL_K3S_SYSTEMD_DIR={prefix}/etc/systemd/system",
        "sh", str(ARTIFACTS_DIR / "install.sh"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


async def output(engine: Engine, admin: Actor, job: JobInfo) -> str:
    return await engine.jobs.read_output(admin, job.id)


# -- provision ---------------------------------------------------------------------------------


async def test_provision_server_then_agent_with_the_standin(
    engine: Engine, admin: Actor, operator: Actor, netns_fleet: NetnsFleet, tmp_path: Path
) -> None:
    h1, h2 = netns_fleet.hosts[0], netns_fleet.hosts[1]
    server_id = await add_host(engine, admin, netns_fleet, h1)
    svc = service(engine, tmp_path)

    job = await svc.provision(operator, server_id, role="server")

    text = await output(engine, admin, job)
    assert job.state is JobState.SUCCEEDED, (job.error, text)
    assert "TASK [Run the K3s install script (server)]" in text and "PLAY RECAP" in text
    # What the install script was given (recorded by the stand-in).
    rec = record(tmp_path)
    assert rec["ROLE"] == "server"
    assert rec["INSTALL_K3S_EXEC"] == f"server --tls-san {h1.address}"
    assert rec["INSTALL_K3S_SKIP_DOWNLOAD"] == "true"
    assert rec["INSTALL_K3S_BIN_DIR"] == f"{tmp_path}/usr/local/bin"
    assert rec["K3S_URL"] == "" and rec["K3S_TOKEN"] == ""
    assert (tmp_path / "usr/local/bin/k3s").read_bytes() == (ARTIFACTS_DIR / "k3s").read_bytes()
    # The cluster: kubeconfig fetched, server rewritten to the host's address, stored encrypted.
    host = await load(engine, server_id)
    assert host.state is HostState.IN_CLUSTER and host.cluster_role == "server"
    assert host.cluster_id is not None and job.result["cluster_id"] == str(host.cluster_id)
    cluster = await engine.clusters.get_cluster(admin, host.cluster_id)
    assert cluster.api_server == f"https://{h1.address}:6443"
    assert cluster.control_plane_host_id == server_id
    on_host = yaml.safe_load((tmp_path / "etc/rancher/k3s/k3s.yaml").read_text())
    admin_token = on_host["users"][0]["user"]["token"]
    stored = yaml.safe_load((await engine.secrets.reveal(f"cluster/{cluster.id}/kubeconfig")).reveal())
    assert stored["users"][0]["user"]["token"] == admin_token
    assert stored["clusters"][0]["cluster"]["server"] == f"https://{h1.address}:6443"
    async with engine.db.session() as session:
        raw = (
            await session.execute(select(Secret.ciphertext).where(Secret.kind == "kubeconfig"))
        ).scalar_one()
    assert admin_token.encode() not in raw and b"server:" not in raw

    # An agent joins with the server's token, which never shows in the job.
    agent_id = await add_host(engine, admin, netns_fleet, h2)
    joined = await svc.provision(operator, agent_id, role="agent", cluster_id=host.cluster_id)
    agent_text = await output(engine, admin, joined)
    assert joined.state is JobState.SUCCEEDED, (joined.error, agent_text)
    token = (tmp_path / "var/lib/rancher/k3s/server/node-token").read_text().strip()
    rec = record(tmp_path)
    assert rec["ROLE"] == "agent" and rec["INSTALL_K3S_EXEC"] == "agent"
    assert rec["K3S_URL"] == f"https://{h1.address}:6443" and rec["K3S_TOKEN"] == token
    assert token not in agent_text and token not in joined.error and token not in str(joined.result)
    agent = await load(engine, agent_id)
    assert (agent.state, agent.cluster_id, agent.cluster_role) == (
        HostState.IN_CLUSTER,
        host.cluster_id,
        "agent",
    )


async def test_failing_task_fails_the_job_with_its_reason(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet, tmp_path: Path
) -> None:
    host_id = await add_host(engine, admin, netns_fleet, netns_fleet.hosts[2])
    empty = tmp_path / "no-artifacts"
    empty.mkdir()
    job = await service(engine, tmp_path / "p", artifacts=empty).provision(admin, host_id, role="server")
    assert job.state is JobState.FAILED
    assert "Copy the K3s binary from the artifact folder" in job.error
    assert "TASK [Copy the K3s binary" in await output(engine, admin, job)
    host = await load(engine, host_id)
    assert (host.state, host.cluster_id) == (HostState.DISCOVERED, None)
    assert await cluster_count(engine) == 0


async def test_cancel_stops_the_run_and_keeps_the_output(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet, tmp_path: Path
) -> None:
    host_id = await add_host(engine, admin, netns_fleet, netns_fleet.hosts[3])
    prefix = tmp_path / "k3s"
    svc = service(engine, prefix, k3s_install_env_extra={"STANDIN_SLEEP": "60"})
    task = asyncio.ensure_future(svc.provision(admin, host_id, role="server"))
    job_id = None
    async with asyncio.timeout(120):
        while True:
            await asyncio.sleep(0.3)
            running = await engine.jobs.list_jobs(admin, state=JobState.RUNNING)
            if running:
                job_id = running[0].id
                if "TASK [" in await engine.jobs.read_output(admin, job_id):
                    break
    assert job_id is not None
    await engine.jobs.cancel(admin, job_id)
    async with asyncio.timeout(60):
        job = await task
    assert job.state is JobState.CANCELLED
    text = await output(engine, admin, job)
    assert "Checking SSH" in text and "TASK [" in text
    assert "PLAY RECAP" not in text  # stopped, not finished
    host = await load(engine, host_id)
    assert (host.state, host.cluster_id) == (HostState.DISCOVERED, None)
    assert await cluster_count(engine) == 0
    assert not (prefix / "k3s-standin").exists()
    shutil.rmtree(prefix, ignore_errors=True)  # a stand-in still sleeping on the host stops at once


async def test_timeout_fails_the_job(
    engine: Engine, admin: Actor, settings: Settings, netns_fleet: NetnsFleet, tmp_path: Path
) -> None:
    host_id = await add_host(engine, admin, netns_fleet, netns_fleet.hosts[3])
    short = settings.model_copy(
        update={"timeouts": settings.timeouts.model_copy(update={"ansible_run": 3.0})}
    )
    prefix = tmp_path / "k3s"
    svc = service(engine, prefix, k3s_install_env_extra={"STANDIN_SLEEP": "60"})
    svc.ctx = dataclasses.replace(engine.context, settings=short)
    job = await svc.provision(admin, host_id, role="server")
    assert job.state is JobState.FAILED
    assert "did not finish within 3 s" in job.error
    assert "Checking SSH" in await output(engine, admin, job)
    assert (await load(engine, host_id)).state is HostState.DISCOVERED
    shutil.rmtree(prefix, ignore_errors=True)


# -- wipe -------------------------------------------------------------------------------------


async def test_wipe_clean_host_becomes_discovered(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet, tmp_path: Path
) -> None:
    h = netns_fleet.hosts[0]
    standin_install(h, tmp_path)
    host_id = await add_host(engine, admin, netns_fleet, h, state=HostState.PROVISIONED)
    job = await service(engine, tmp_path).wipe(admin, host_id)
    text = await output(engine, admin, job)
    assert job.state is JobState.SUCCEEDED, (job.error, text)
    assert "PODWARDEN_LEFTOVERS: none" in text
    assert not (tmp_path / "var/lib/rancher").exists() and not (tmp_path / "etc/rancher").exists()
    assert not (tmp_path / "usr/local/bin/k3s").exists()
    assert (await load(engine, host_id)).state is HostState.DISCOVERED


async def test_wipe_reports_leftovers_and_fails(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet, tmp_path: Path
) -> None:
    h = netns_fleet.hosts[1]
    standin_install(h, tmp_path)
    (tmp_path / "var/lib/rancher/left-behind").write_text("x")  # the uninstall does not know it
    host_id = await add_host(engine, admin, netns_fleet, h, state=HostState.PROVISIONED)
    job = await service(engine, tmp_path).wipe(admin, host_id)
    assert job.state is JobState.FAILED
    assert f"path:{tmp_path}/var/lib/rancher" in job.error
    assert f"PODWARDEN_LEFTOVERS: path:{tmp_path}/var/lib/rancher" in await output(engine, admin, job)
    assert (await load(engine, host_id)).state is HostState.PROVISIONED


# -- refusals and SSH failures (before Ansible starts) ------------------------------------------


async def test_protected_hosts_and_roles_are_refused(
    engine: Engine, admin: Actor, operator: Actor, viewer: Actor, netns_fleet: NetnsFleet, tmp_path: Path
) -> None:
    h = netns_fleet.hosts[2]
    svc = service(engine, tmp_path)
    detected = await add_host(engine, admin, netns_fleet, h, kubernetes_detected=True, protected=True)
    with pytest.raises(ProtectedResourceError, match="delete the cluster first"):
        await svc.wipe(admin, detected)
    with pytest.raises(ProtectedResourceError):
        await svc.provision(admin, detected, role="server")
    plain = await add_host(engine, admin, netns_fleet, h, ssh_port=2222)
    with pytest.raises(PermissionDenied):
        await svc.wipe(operator, plain)  # wiping is for admins
    with pytest.raises(PermissionDenied):
        await svc.provision(viewer, plain, role="server")
    assert await engine.jobs.list_jobs(admin) == []


@pytest.mark.parametrize("breakage", ["stopped", "changed_key", "no_sudo"])
async def test_ssh_failures_fail_the_job_with_one_reason(
    engine: Engine, admin: Actor, netns_fleet: NetnsFleet, tmp_path: Path, breakage: str
) -> None:
    h = netns_fleet.hosts[3]
    user = PLAIN_USER if breakage == "no_sudo" else "root"
    host_id = await add_host(engine, admin, netns_fleet, h, user=user)
    svc = service(engine, tmp_path)
    if breakage == "stopped":
        with h.stopped():
            job = await svc.provision(admin, host_id, role="server")
        expected = "refused"
    elif breakage == "changed_key":
        with h.changed_host_key():
            job = await svc.provision(admin, host_id, role="server")
        expected = "host key"
    else:
        job = await svc.provision(admin, host_id, role="server")
        expected = "sudo"
    assert job.state is JobState.FAILED
    assert expected in job.error
    assert "Checking SSH" in await output(engine, admin, job)
    host = await load(engine, host_id)
    assert (host.state, host.cluster_id, host.ssh_known_hosts) == (
        HostState.DISCOVERED,
        None,
        h.known_hosts_line(),
    )
    assert not (tmp_path / "k3s-standin").exists()


# -- the adapter on its own: probe.yml, Ansible's own SSH failures -------------------------------


async def run_probe_playbook(
    fleet: NetnsFleet, host: NetnsHost, pinned: str | None = None
) -> tuple[PlaybookResult, list[str]]:
    lines: list[str] = []

    async def collect(line: str) -> None:
        lines.append(line)

    spec = PlaybookRun(
        "probe.yml", InventoryHost(host.hostname, host.address), {}, pinned or host.known_hosts_line(),
        SecretValue(fleet.client_private_key), timeout=120.0,
    )  # fmt: skip
    return await AnsibleRunner(playbooks_dir()).run(spec, on_line=collect), lines


async def test_probe_playbook_prints_the_probe_json(netns_fleet: NetnsFleet) -> None:
    host = netns_fleet.hosts[0]
    result, lines = await run_probe_playbook(netns_fleet, host)
    assert result.ok, (result.reason, lines)
    assert result.stats[host.hostname]["failed"] == 0 and result.stats[host.hostname]["ok"] == 2
    text = "\n".join(lines)
    assert "TASK [Print the probe JSON]" in text
    assert f"hostname: {host.hostname}" in text and "probe_version:" in text


@pytest.mark.parametrize("breakage", ["wrong_key", "changed_key"])
async def test_ansible_refuses_a_changed_host_key_and_a_wrong_key(
    netns_fleet: NetnsFleet, breakage: str
) -> None:
    host = netns_fleet.hosts[1]
    pinned = host.known_hosts_line()
    if breakage == "wrong_key":
        with host.wrong_authorized_key():
            result, _ = await run_probe_playbook(netns_fleet, host)
        assert "Permission denied" in result.reason
    else:
        with host.changed_host_key():
            result, _ = await run_probe_playbook(netns_fleet, host, pinned)
        assert "does not match the pinned one" in result.reason
    assert not result.ok and result.unreachable
    assert result.stats[host.hostname]["unreachable"] == 1
