"""SIGTERM while a job runs, through the real ``podwarden-engine run`` process.

The job is a real provisioning job (install K3s) started over the real HTTP API,
for a host whose SSH port accepts connections and never says a word (a hung
machine): the job writes "Checking SSH to …", then its SSH handshake waits for the
server's banner (the SSH connect timeout is raised to 10 minutes). While the job
is running, the service gets SIGTERM. It must exit 0 within its shutdown
time, and the job must have ended ``cancelled`` or ``interrupted`` with its output
kept — never left ``running``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import psycopg
import pytest
from sqlalchemy import update
from sqlalchemy.engine import URL

from podwarden.engine import Engine, Settings
from podwarden.engine.db.urls import libpq_conninfo
from podwarden.engine.models.access import Role
from podwarden.engine.models.fleet import Host
from podwarden.engine.security.rbac import Actor
from tests.conftest import TEST_KEY

# SIGTERM → exit: cancel jobs, API grace period (3 s), loops, engine close. Generous for a busy machine.
STOP_WITHIN_S = 30


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections (kernel backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def _prepare(settings: Settings, silent: int) -> tuple[str, str]:
    async with Engine(settings) as engine:
        admin = Actor.system()
        client_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
        hung = await engine.hosts.add_manual_host(
            admin, hostname="hung.test", ssh_address="127.0.0.1", ssh_port=silent, ssh_private_key=client_key
        )
        # A pinned host key, as a probe of the machine (before it hung) would have left.
        key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
        async with engine.db.unit_of_work() as uow:
            await uow.session.execute(
                update(Host).where(Host.id == hung.id).values(ssh_known_hosts=f"[127.0.0.1]:{silent} {key}")
            )
        issued = await engine.tokens.create_token(admin, "sigterm-test", Role.OPERATOR)
        return issued.token, str(hung.id)


def _jobs(url: URL) -> list[dict[str, Any]]:
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, kind, state::text, output, error, finished_at FROM jobs ORDER BY created_at")
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_sigterm_during_a_running_job_ends_it_cancelled(
    database_url: URL, tmp_path: Path, silent_port: int
) -> None:
    env = {
        **os.environ,
        "PODWARDEN_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "PODWARDEN_SECRET_KEY": TEST_KEY,
        "PODWARDEN_DATA_DIR": str(tmp_path),
        "PODWARDEN_API_PORT": "0",
        "PODWARDEN_TIMEOUTS__SSH_CONNECT": "600",
    }
    settings = Settings(database_url=env["PODWARDEN_DATABASE_URL"], secret_key=TEST_KEY, data_dir=tmp_path)
    token, host_id = asyncio.run(_prepare(settings, silent_port))

    proc = subprocess.Popen(
        [sys.executable, "-m", "podwarden.app.headless", "run"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    reply: list[httpx.Response | Exception] = []
    try:
        assert proc.stdout is not None
        assert "PodWarden engine running" in proc.stdout.readline()
        api_line = proc.stdout.readline()
        assert api_line.startswith("API on http://127.0.0.1:"), api_line
        base = api_line.split()[2].removesuffix("/api/v1")

        def call() -> None:
            try:
                reply.append(
                    httpx.post(
                        f"{base}/api/v1/ops/provisioning.provision",
                        json={"host_id": host_id, "role": "server"},
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=120,
                    )
                )
            except httpx.HTTPError as exc:
                reply.append(exc)

        caller = threading.Thread(target=call, daemon=True)
        caller.start()

        # Wait until the job runs and has written its first line.
        deadline = time.monotonic() + 60
        job: dict[str, Any] | None = None
        while time.monotonic() < deadline and not reply:
            jobs = _jobs(database_url)
            if jobs and jobs[0]["state"] == "running" and "Checking SSH to" in jobs[0]["output"]:
                job = jobs[0]
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        answers = [getattr(r, "text", r) for r in reply]
        assert job is not None, f"the job did not start running: {answers} {_jobs(database_url)}"
        time.sleep(0.5)  # the SSH handshake is waiting for the banner
        now_ = _jobs(database_url)[0]
        assert now_["state"] == "running", now_

        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=STOP_WITHIN_S + 30)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "PodWarden engine stopped." in out
    assert took < STOP_WITHIN_S, f"stopping took {took:.1f} s"

    jobs = _jobs(database_url)
    assert [j["state"] for j in jobs if j["state"] in ("running", "queued")] == []
    [ended] = [j for j in jobs if j["id"] == job["id"]]
    assert ended["kind"] == "install-k3s"
    assert ended["state"] in ("cancelled", "interrupted"), ended
    assert ended["finished_at"] is not None
    assert ended["output"].startswith(job["output"])  # what it wrote before the signal is kept
    assert "Checking SSH to" in ended["output"]

    # The caller got an answer (the cancelled job) or a closed connection, not a hang.
    caller.join(timeout=30)
    assert not caller.is_alive()
    if isinstance(reply[0], httpx.Response) and reply[0].status_code == 200:
        assert reply[0].json()["state"] == ended["state"]
