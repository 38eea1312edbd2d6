"""Probe 20 namespace hosts through the engine vs ``ansible all -m setup -f 20`` (root only).

    sudo /work/venv/bin/python bench/probe.py [--hosts 20] [--script other-probe.sh]

Makes N real test hosts (tests/fakes/netns_hosts.py: network namespaces, each with
its own sshd, private /root and /etc/hosts), then times, one run each:

- engine: ``ProbeService.probe_hosts`` on all N hosts, first contact (host keys
  pinned on the way), results stored per host and a job recorded; then once more
  with the keys pinned;
- ansible: ``ansible all -m setup -f N`` on the same hosts, with the host keys the
  engine pinned as its known_hosts file (``StrictHostKeyChecking=yes``) and
  ``ansible_python_interpreter=/usr/bin/python3``.

The database is ``PODWARDEN_TEST_DATABASE_URL`` when set (a fresh database is
created on it), else the embedded PostgreSQL in a temp folder.
Goal (issue 3): the engine ≥ 20× faster than Ansible.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.fakes / tests.pg

from sqlalchemy import func, select  # noqa: E402

from podwarden.engine import Engine, Settings  # noqa: E402
from podwarden.engine.adapters.ssh import SshPool  # noqa: E402
from podwarden.engine.models.access import Role  # noqa: E402
from podwarden.engine.models.fleet import Host, HostSource, HostState  # noqa: E402
from podwarden.engine.security.rbac import Actor  # noqa: E402
from podwarden.engine.services.probe import ProbeService  # noqa: E402
from tests.fakes.netns_hosts import NetnsFleet, make_fleet, skip_reason  # noqa: E402

VENV_BIN = Path(sys.executable).parent


CPU: dict[str, tuple[float, float]] = {}  # run -> (CPU s of the caller, CPU s of the hosts)


def host_cpu(fleet: NetnsFleet) -> float:
    return sum(host.cpu_seconds() for host in fleet.hosts)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def engine_probe(
    settings: Settings, fleet: NetnsFleet, script: str | None
) -> tuple[float, float, int, str]:
    admin = Actor(kind="user", name="bench", role=Role.ADMIN)
    async with Engine(settings) as engine:
        await engine.secrets.create_secret(admin, "bench/ssh-key", fleet.client_private_key, kind="ssh-key")
        ids = [uuid.uuid4() for _ in fleet.hosts]
        async with engine.db.unit_of_work() as uow:
            for host_id, host in zip(ids, fleet.hosts, strict=True):
                uow.session.add(
                    Host(
                        id=host_id, hostname=host.hostname, source=HostSource.MANUAL,
                        state=HostState.DISCOVERED, ssh_address=host.address, ssh_user="root",
                        ssh_key_secret="bench/ssh-key",
                    )
                )  # fmt: skip
        ssh = SshPool.from_settings(settings, max_connections=len(fleet.hosts), agent_path="")
        probe = ProbeService(engine.context, jobs=engine.jobs, secrets=engine.secrets, ssh=ssh, script=script)

        hosts_cpu, own_cpu = host_cpu(fleet), time.process_time()
        started = time.perf_counter()
        first = await probe.probe_hosts(admin, ids)
        first_s = time.perf_counter() - started
        own_cpu = time.process_time() - own_cpu
        await asyncio.sleep(0.3)  # let each sshd reap its finished sessions
        CPU["engine"] = (own_cpu, host_cpu(fleet) - hosts_cpu)
        if first.failed:
            raise SystemExit(f"engine probe failed: {first.job_error}")

        started = time.perf_counter()
        second = await probe.probe_hosts(admin, ids)
        second_s = time.perf_counter() - started
        if second.failed:
            raise SystemExit(f"engine probe (pinned) failed: {second.job_error}")

        async with engine.db.session() as session:
            stored = (
                await session.execute(select(func.count()).where(Host.last_probe_at.is_not(None)))
            ).scalar_one()
            pins = (await session.execute(select(Host.ssh_known_hosts).order_by(Host.hostname))).scalars()
            known_hosts = "".join(f"{line}\n" for line in pins if line)
    return first_s, second_s, int(stored), known_hosts


def ansible_setup(fleet: NetnsFleet, known_hosts: str, folder: Path) -> float:
    (folder / "known_hosts").write_text(known_hosts)
    lines = ["[fleet]"]
    lines += [f"{h.hostname} ansible_host={h.address}" for h in fleet.hosts]
    lines += [
        "[fleet:vars]",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={fleet.client_key_path}",
        "ansible_python_interpreter=/usr/bin/python3",
        f"ansible_ssh_common_args='-o UserKnownHostsFile={folder / 'known_hosts'} "
        "-o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null'",
    ]
    (folder / "inventory.ini").write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_HOME": str(folder / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(folder / "ansible-tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(folder / "cp"),
    }
    command = [str(VENV_BIN / "ansible"), "all", "-i", str(folder / "inventory.ini"), "-m", "setup"]
    command += ["-f", str(len(fleet.hosts))]
    hosts_cpu, own_cpu = host_cpu(fleet), children_cpu()
    started = time.perf_counter()
    with open(folder / "ansible.out", "wb") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed = time.perf_counter() - started
    # Ansible keeps one SSH master per host (ControlPersist): end them so each sshd
    # reaps its session and the hosts' CPU time is complete.
    for control in (folder / "cp").glob("*"):
        subprocess.run(
            ["ssh", "-S", str(control), "-O", "exit", "placeholder"], capture_output=True, check=False
        )
    own_cpu = children_cpu() - own_cpu
    time.sleep(0.3)
    CPU["ansible"] = (own_cpu, host_cpu(fleet) - hosts_cpu)
    text = (folder / "ansible.out").read_text(errors="replace")
    ok = text.count("| SUCCESS =>")
    if done.returncode != 0 or ok != len(fleet.hosts):
        raise SystemExit(f"ansible failed (rc {done.returncode}, {ok} ok):\n{text[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument(
        "--script", type=Path, help="probe with this script instead of probe.sh (experiments)"
    )
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    script = args.script.read_text() if args.script else None
    reason = skip_reason()
    if reason is not None:
        raise SystemExit(f"cannot run: {reason}")
    if shutil.which("ansible", path=str(VENV_BIN)) is None:
        raise SystemExit(f"ansible is not installed in {VENV_BIN}")

    folder = Path(tempfile.mkdtemp(prefix="pw-bench-probe-"))
    os.chmod(folder, 0o755)
    pg = embedded = None
    try:
        if os.environ.get("PODWARDEN_TEST_DATABASE_URL"):
            from tests.pg import PgTestServer, configured_url

            admin_url = configured_url()
            assert admin_url is not None
            pg = PgTestServer(admin_url)
            pg.prepare_template()
            url = pg.new_database()
        else:
            from podwarden.engine.db.embedded import EmbeddedPostgres
            from podwarden.engine.db.urls import parse_database_url

            embedded = EmbeddedPostgres(folder / "pg")
            url = parse_database_url(asyncio.run(embedded.start()))
        settings = Settings(
            database_url=url.render_as_string(hide_password=False),
            data_dir=folder / "data",
            secret_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        )
        started = time.perf_counter()
        fleet = make_fleet(args.hosts)
        print(f"{args.hosts} namespace hosts up in {time.perf_counter() - started:.2f} s")
        try:
            first, second, stored, known_hosts = asyncio.run(engine_probe(settings, fleet, script))
            ansible = ansible_setup(fleet, known_hosts, folder)
        finally:
            fleet.close()
    finally:
        if embedded is not None:
            asyncio.run(embedded.stop())
        if pg is not None:
            pg.drop_all()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"engine probe, first contact (TOFU pins, {stored} hosts stored, job recorded): {first:.3f} s")
    print(f"engine probe, keys pinned:                                         {second:.3f} s")
    print(f"ansible all -m setup -f {args.hosts}:                                     {ansible:.3f} s")
    print(f"ratio ansible / engine: {ansible / first:.1f}x (first contact), {ansible / second:.1f}x (pinned)")
    for run, (own, hosts) in CPU.items():
        caller = "bench process" if run == "engine" else "ansible + ssh"
        print(
            f"CPU {run:7}: {own:.2f} s {caller} + {hosts:.2f} s hosts (sshd + commands) = {own + hosts:.2f} s"
        )
    engine_cpu, ansible_cpu = sum(CPU["engine"]), sum(CPU["ansible"])
    print(f"CPU ratio ansible / engine: {ansible_cpu / engine_cpu:.1f}x")
    now = os.getloadavg()[0]
    print(f"load average: {load_at_start:.2f} at start, {now:.2f} now, on {os.cpu_count()} CPUs")
    print(f"goal >= 20x (wall, first contact): {'met' if ansible / first >= 20 else 'NOT met'}")


if __name__ == "__main__":
    main()
