"""API latency: a host listing of 10,000 hosts under 50 concurrent clients on loopback.

    python bench/api_latency.py [--hosts 10000] [--clients 50] [--seconds 20] [--warmup 3]
                                [--limit 100] [--database-url URL] [--profile FILE]

1. A scratch database (``--database-url``: a new database on that server, dropped
   afterwards; else the embedded PostgreSQL in a temp folder) is migrated and seeded
   with ``--hosts`` hosts in one bulk INSERT, and a viewer API token is created.
2. The real service starts as a subprocess: ``python -m podwarden.app.headless run``
   (engine + loops + API on 127.0.0.1, a free port).
3. ``--clients`` clients (one httpx connection each, one asyncio task each, in this
   process) call the host listing back to back for ``--warmup`` + ``--seconds``
   seconds; only the last ``--seconds`` count. The listing is
   ``POST /api/v1/ops/hosts.list_hosts`` (the route the operation registry derives:
   ``list_hosts`` takes a list of states, so it is not a GET) with
   ``{"limit": --limit}``; 100 is the operation's default page size.
4. Printed: p50/p90/p99/max latency, requests/s, errors, the service's CPU time per
   request, the load average before/after (the machine may be shared), and a check
   that the audit log holds one row per authenticated call.

``--profile FILE`` runs the service under cProfile and writes its stats to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from podwarden.engine import Engine, Settings  # noqa: E402
from podwarden.engine.db.urls import libpq_conninfo, parse_database_url  # noqa: E402

PATH = "/api/v1/ops/hosts.list_hosts"
STATES = ("discovered", "provisioned", "in_cluster", "missing", "error")


def host_rows(count: int) -> list[dict[str, Any]]:
    from podwarden.engine.models.fleet import HostSource, HostState

    rows = []
    for i in range(count):
        gpu = i % 10 == 0
        address = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        rows.append(
            {
                "id": uuid.uuid4(), "hostname": f"node-{i:05d}", "source": HostSource.MANUAL,
                "state": HostState(STATES[i % len(STATES)]), "addresses": [address],
                "ssh_address": address, "ssh_port": 22, "ssh_user": "root", "cpu_cores": 2 + i % 30,
                "memory_bytes": (4 + i % 60) * 2**30, "gpu_count": 2 if gpu else 0,
                "gpu_model": "NVIDIA RTX 4090" if gpu else None, "gpu_vram_mb": 24564 if gpu else None,
                "network_types": ["mesh", "lan"] if i % 2 else ["lan"], "tailscale_tags": [],
                "facts": {}, "notes": "",
            }
        )  # fmt: skip
    return rows


async def seed(settings: Settings, hosts: int) -> str:
    from sqlalchemy import insert

    from podwarden.engine.models.access import Role
    from podwarden.engine.models.fleet import Host
    from podwarden.engine.security.rbac import Actor

    async with Engine(settings) as engine:
        started = time.perf_counter()
        async with engine.db.unit_of_work() as uow:
            await uow.session.execute(insert(Host), host_rows(hosts))
        print(f"seeded {hosts} hosts in {time.perf_counter() - started:.2f} s ({engine.database_mode})")
        issued = await engine.tokens.create_token(Actor.system(), "bench", Role.VIEWER)
        return issued.token


async def audit_rows(settings: Settings) -> int:
    from sqlalchemy import func, select

    from podwarden.engine.models.access import AuditEntry

    async with Engine(settings) as engine, engine.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


async def hammer(url: str, token: str, args: argparse.Namespace) -> tuple[list[float], int, int, float]:
    """Returns (latencies in s of the measured window, errors, calls made in all, window s)."""
    latencies: list[float] = []
    errors = calls = 0
    body = {"limit": args.limit}
    begin = time.perf_counter()
    measure_from = begin + args.warmup
    stop_at = measure_from + args.seconds

    async def client() -> None:
        nonlocal errors, calls
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:
            while (started := time.perf_counter()) < stop_at:
                try:
                    response = await c.post(PATH, json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                calls += 1
                if started >= measure_from:
                    latencies.append(time.perf_counter() - started)
                    errors += not ok

    await asyncio.gather(*(client() for _ in range(args.clients)))
    return latencies, errors, calls, args.seconds


def start_service(settings_env: dict[str, str], profile: str | None) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "podwarden.app.headless", "run"]
    if profile:
        cmd = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "podwarden.app.headless", "run"]
    env = {**os.environ, **settings_env, "PODWARDEN_API_PORT": "0"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for _ in range(5):
        line = proc.stdout.readline()
        if line.startswith("API on "):
            return proc, line.split()[2].removesuffix("/api/v1")
    proc.kill()
    raise SystemExit(f"the service did not start (exit code {proc.wait()})")


def settle(url: str, timeout: float = 300) -> None:
    """Wait until every loop this engine leads has ticked once (the first audit of a
    10,000-host fleet is heavy; it should not be in the window), reading /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples = {
            (s.name, s.labels.get("loop")): s.value
            for family in text_string_to_metric_families(httpx.get(url + "/metrics").text)
            for s in family.samples
        }
        leading = [loop for (name, loop), v in samples.items() if name == "podwarden_loop_leading" and v]
        if leading and all(samples.get(("podwarden_loop_ticks_total", loop), 0) >= 1 for loop in leading):
            for loop in leading:
                took = samples.get(("podwarden_loop_last_tick_duration_seconds", loop), float("nan"))
                print(f"loop {loop}: first tick took {took:.2f} s")
            return
        time.sleep(0.5)
    print("the loops did not tick within the wait; measuring anyway")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def run(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> None:
    token = asyncio.run(seed(settings, args.hosts))
    before_rows = asyncio.run(audit_rows(settings))
    proc, url = start_service(env, args.profile)
    try:
        first = httpx.post(
            url + PATH, json={"limit": args.limit}, headers={"Authorization": f"Bearer {token}"}
        )
        page = first.json()
        settle(url)
        print(f"page: {len(page['rows'])} of {page['total']} hosts, {len(first.content) / 1024:.0f} KiB JSON")
        print(f"load average before: {load()}")
        cpu_before, own_before = cpu_seconds(proc.pid), time.process_time()
        latencies, errors, calls, window = asyncio.run(hammer(url, token, args))
        cpu_used, own_used = cpu_seconds(proc.pid) - cpu_before, time.process_time() - own_before
        print(f"load average after:  {load()}")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    ms = [x * 1000 for x in latencies]
    print(
        f"{args.clients} clients, {window:.0f} s measured (+{args.warmup:.0f} s warm-up): "
        f"{len(ms)} requests, {len(ms) / window:.0f} req/s, {errors} errors"
    )
    print(
        f"latency ms: p50 {pct(ms, 0.5):.1f}  p90 {pct(ms, 0.9):.1f}  p99 {pct(ms, 0.99):.1f}  "
        f"max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
    )
    per_request = cpu_used / max(len(ms), 1) * 1000
    print(
        f"service CPU: {cpu_used:.1f} s in the window ({cpu_used / window:.0%} of one core), "
        f"{per_request:.2f} ms/request (ceiling on one free core: {1000 / per_request:.0f} req/s); "
        f"client CPU {own_used:.1f} s"
    )
    rows = asyncio.run(audit_rows(settings)) - before_rows
    expected = calls + 1
    print(f"audit rows written: {rows} for {expected} calls ({'ok' if rows == expected else 'MISMATCH'})")
    print(f"service exit code after SIGTERM: {code}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--limit", type=int, default=100, help="page size (the operation's default: 100)")
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of the embedded one")
    parser.add_argument("--profile", help="run the service under cProfile, stats to this file")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    folder = tempfile.mkdtemp(prefix="pw-bench-api-")
    os.chmod(folder, 0o755)
    env = {"PODWARDEN_SECRET_KEY": key, "PODWARDEN_DATA_DIR": folder}
    server = scratch = None
    try:
        if args.database_url:
            server = parse_database_url(args.database_url)
            scratch = server.set(database=f"pw_bench_api_{os.getpid()}")
            with psycopg.connect(libpq_conninfo(server), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{scratch.database}"')
            env["PODWARDEN_DATABASE_URL"] = scratch.render_as_string(hide_password=False)
        settings = Settings(
            database_url=env.get("PODWARDEN_DATABASE_URL"), data_dir=Path(folder), secret_key=key
        )
        run(args, settings, env)
    finally:
        if scratch is not None and server is not None:
            with psycopg.connect(libpq_conninfo(server), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
