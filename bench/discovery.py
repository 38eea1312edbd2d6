"""Tailscale discovery: 10,000 devices from the local fake Tailscale API into PostgreSQL.

    python bench/discovery.py [--devices 10000] [--changed 0.01] [--database-url URL]

End to end, each timing includes the HTTP fetch, JSON parsing and the writes:

- reconcile: ``DiscoveryService.run_discovery`` (COPY into a temp table + one
  ``INSERT … ON CONFLICT … WHERE (row differs)`` + one missing-marking UPDATE);
- naive: the same fetch, then a per-row ORM loop (SELECT the host by tailscale_id,
  set its attributes or add it; mark the rest missing; one commit).

Three scenarios for each, on the same data: first run (empty table), unchanged
re-run, and a run with ``--changed`` of the devices renamed. Rows written are
counted from RETURNING (reconcile) and from the ORM's dirty/new sets (naive).
Without ``--database-url`` the engine's embedded PostgreSQL runs in a temp folder;
with it, a scratch database is created on that server and dropped afterwards.
Goal (issue 3): reconcile <= 0.5 s end to end and >= 20x the naive loop.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fakes lives in the source tree

from podwarden.engine import Engine, Settings  # noqa: E402
from podwarden.engine.adapters.tailscale import TailscaleClient  # noqa: E402
from podwarden.engine.db.urls import libpq_conninfo, parse_database_url  # noqa: E402
from podwarden.engine.models.fleet import Host, HostSource, HostState  # noqa: E402
from podwarden.engine.security.rbac import Actor  # noqa: E402
from podwarden.engine.services.discovery import DiscoveryService  # noqa: E402
from tests.fakes.tailscale_api import FAKE_TAILNET, FakeTailscaleAPI, make_device  # noqa: E402

SECRET = "tailscale/api-key"


async def naive_run(engine: Engine, fake: FakeTailscaleAPI) -> tuple[float, int]:
    """Fetch, then one SELECT + attribute sets per device through the ORM; one commit."""
    started = time.perf_counter()
    timeout = engine.settings.timeouts.http_request
    async with TailscaleClient(fake.base_url, FAKE_TAILNET, api_key=fake.api_key, timeout=timeout) as client:
        devices = await client.list_devices()
    written = 0
    async with engine.db.unit_of_work() as uow:
        session = uow.session
        seen: set[str] = set()
        for d in devices:
            seen.add(d.id)
            host = (await session.execute(select(Host).where(Host.tailscale_id == d.id))).scalar_one_or_none()
            values: dict[str, Any] = {
                "hostname": d.hostname,
                "tailscale_name": d.name,
                "tailscale_tags": list(d.tags),
                "tailscale_last_seen": d.last_seen,
                "addresses": list(d.addresses),
                "os": d.os,
            }
            if host is None:
                session.add(
                    Host(
                        tailscale_id=d.id,
                        source=HostSource.TAILSCALE,
                        state=HostState.DISCOVERED,
                        ssh_address=d.ipv4,
                        **values,
                    )
                )
                written += 1
                continue
            for key, value in values.items():
                setattr(host, key, value)
            if host.state is HostState.MISSING:
                host.state = HostState.DISCOVERED
            written += session.is_modified(host)  # the ORM writes only changed rows
        rest = await session.execute(
            select(Host).where(Host.source == HostSource.TAILSCALE, Host.state != HostState.MISSING)
        )
        for host in rest.scalars():
            if host.tailscale_id not in seen:
                host.state = HostState.MISSING
                written += 1
    return time.perf_counter() - started, written


async def reconcile_run(service: DiscoveryService) -> tuple[float, int, float, float]:
    """Seconds end to end, rows written, seconds fetching + parsing, seconds writing."""
    result = await service.run_discovery()
    return result.duration, result.written, result.fetch_seconds, result.reconcile_seconds


async def reset(engine: Engine, fake: FakeTailscaleAPI, devices: list[dict[str, Any]]) -> None:
    async with engine.db.unit_of_work() as uow:
        await uow.session.execute(text("DELETE FROM hosts"))
    async with engine.db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE hosts"))
    fake.set_devices(devices)
    prime(fake)


def prime(fake: FakeTailscaleAPI) -> None:
    """Encode the fake's reply now, untimed: after a change the fake re-encodes its 12 MB
    body with ``json.dumps`` in its server thread on the next request, which (holding
    the GIL) would be counted as PodWarden's fetch time. The real API has it ready."""
    fake._devices_body("all")  # the fake's own cache (bench only)


def change(fake: FakeTailscaleAPI, devices: list[dict[str, Any]], share: float, tag: str) -> int:
    step = max(1, round(1 / share))
    changed = 0
    for i in range(0, len(devices), step):
        fake.update_device(devices[i]["nodeId"], hostname=f"{devices[i]['hostname']}-{tag}")
        changed += 1
    prime(fake)
    return changed


async def bench(args: argparse.Namespace, settings: Settings) -> None:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    devices = [make_device(i, now=stamp) for i in range(args.devices)]
    admin = Actor.system()
    with FakeTailscaleAPI(devices) as fake:
        async with Engine(settings) as engine:
            await engine.secrets.create_secret(admin, SECRET, fake.api_key, kind="tailscale")
            await engine.config.update_system_config(
                admin,
                {
                    "tailscale": {
                        "enabled": True,
                        "api_url": fake.base_url,
                        "tailnet": FAKE_TAILNET,
                        "api_key_secret": SECRET,
                    }
                },
            )
            service = DiscoveryService(engine.context)
            # Warm-up: imports, connection pool, the fake's encoded body (not timed).
            await service.run_discovery()

            scenarios = ("first run", "unchanged re-run", f"{args.changed:.0%} changed")
            runs: dict[str, list[tuple[float, int, float, float]]] = {k: [] for k in scenarios}
            expected = 0
            for _ in range(args.repeat):
                await reset(engine, fake, devices)
                for scenario in scenarios:
                    if scenario.endswith("changed"):
                        expected = change(fake, devices, args.changed, "r")
                    runs[scenario].append(await reconcile_run(service))
            naive: dict[str, tuple[float, int]] = {}
            await reset(engine, fake, devices)
            for scenario in scenarios:
                if scenario.endswith("changed"):
                    change(fake, devices, args.changed, "n")
                naive[scenario] = await naive_run(engine, fake)
            db_mode = engine.database_mode

    print(
        f"Tailscale discovery benchmark: {args.devices:,} devices, "
        f"Python {platform.python_version()}, {db_mode}"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average {args.load_at_start:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at the end (shared with other work)"
    )
    print(f"reconcile: median (best) of {args.repeat} runs; naive: one run")
    print()
    header = f"{'scenario':<18} {'reconcile s':>16} {'fetch+parse':>12} {'write':>7} {'rows':>6}"
    header += f" {'naive s':>9} {'rows':>6} {'speedup':>8}"
    print(header)
    medians: dict[str, float] = {}
    for scenario in scenarios:
        got = runs[scenario]
        total = statistics.median(r[0] for r in got)
        medians[scenario] = total
        best = min(r[0] for r in got)
        rows = {r[1] for r in got}
        fetch = statistics.median(r[2] for r in got)
        write = statistics.median(r[3] for r in got)
        naive_s, naive_rows = naive[scenario]
        print(
            f"{scenario:<18} {total:>8.3f} ({best:.3f}) {fetch:>12.3f} {write:>7.3f} "
            f"{'/'.join(map(str, sorted(rows))):>6} {naive_s:>9.3f} {naive_rows:>6} {naive_s / total:>7.1f}x"
        )
    print()
    print(f"devices changed in the last scenario: {expected}")
    worst = max(medians.values())
    ratio = min(naive[k][0] / medians[k] for k in scenarios)
    print(f"goal <= 0.5 s end to end: worst median {worst:.3f} s -> {'met' if worst <= 0.5 else 'MISSED'}")
    print(f"goal >= 20x the naive loop: smallest ratio {ratio:.1f}x -> {'met' if ratio >= 20 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of devices changed (0-1)")
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of the embedded one")
    parser.add_argument("--repeat", type=int, default=5, help="reconcile cycles (median is shown)")
    args = parser.parse_args()
    args.load_at_start = os.getloadavg()[0]
    if not 0 < args.changed <= 1:
        parser.error("--changed is a share between 0 and 1")
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    folder = tempfile.mkdtemp(prefix="pw-bench-discovery-")
    os.chmod(folder, 0o755)
    scratch = None
    try:
        if args.database_url:
            server = parse_database_url(args.database_url)
            scratch = server.set(database=f"pw_bench_discovery_{os.getpid()}")
            with psycopg.connect(libpq_conninfo(server), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{scratch.database}"')
            settings = Settings(
                database_url=scratch.render_as_string(hide_password=False),
                data_dir=Path(folder),
                secret_key=key,
            )
        else:
            settings = Settings(data_dir=Path(folder), secret_key=key)
        asyncio.run(bench(args, settings))
    finally:
        if scratch is not None:
            with psycopg.connect(libpq_conninfo(server), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
