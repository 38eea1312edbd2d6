"""Periodic loops: memory growth over 10,000 accelerated ticks of an idle engine.

    python bench/loops.py [--ticks 10000] [--warmup 500] [--interval 0] [--database-url URL]
                          [--no-tracemalloc]

An engine on an empty database runs PodWarden's loops (``default_loops``:
Tailscale discovery, skipped because Tailscale is not configured, and the
consistency audit, which reads the fleet and writes nothing) through
:class:`LoopRunner` with every interval replaced by ``--interval`` seconds, so
each tick also takes the leader lock check. After ``--warmup`` ticks (pools,
caches and imports settle) the figures start; the run ends after ``--ticks``
more ticks. Printed: ticks per second, RSS growth (``/proc/self/status``), and
Python heap growth measured by ``tracemalloc`` (with the top allocation sites).
Goal (issue 6): growth <= 5 MB. The API-latency half of the issue's benchmark
(10,000 hosts, 50 concurrent clients) is bench/api_latency.py.

Without ``--database-url`` the engine's embedded PostgreSQL runs in a temp folder;
with it, a scratch database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import os
import platform
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from podwarden.engine import Engine, Settings  # noqa: E402
from podwarden.engine.db.urls import libpq_conninfo, parse_database_url  # noqa: E402
from podwarden.engine.loops import LoopRunner, default_loops  # noqa: E402

GOAL_MB = 5.0
MB = 1024 * 1024


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def total_ticks(runner: LoopRunner) -> int:
    return sum(s.ticks for s in runner.stats().values())


async def wait_ticks(runner: LoopRunner, count: int) -> None:
    while total_ticks(runner) < count:  # noqa: ASYNC110 - polling the runner's counters
        await asyncio.sleep(0.05)


async def bench(args: argparse.Namespace, settings: Settings) -> bool:
    async with Engine(settings) as engine:
        print(f"database: {engine.database_mode}")
        print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
        async with LoopRunner(engine, default_loops(engine), accelerated=args.interval) as runner:
            await wait_ticks(runner, args.warmup)
            gc.collect()
            if args.tracemalloc:
                tracemalloc.start(1)
                heap_before = tracemalloc.take_snapshot()
            rss_before = rss_bytes()
            start_ticks = total_ticks(runner)
            started = time.perf_counter()
            await wait_ticks(runner, start_ticks + args.ticks)
            elapsed = time.perf_counter() - started
            done = total_ticks(runner) - start_ticks
            gc.collect()
            rss_after = rss_bytes()
            stats = runner.stats()
            heap_growth = None
            if args.tracemalloc:
                heap_after = tracemalloc.take_snapshot()
                diff = heap_after.compare_to(heap_before, "lineno")
                heap_growth = sum(d.size_diff for d in diff)
                tracemalloc.stop()
    print(
        f"ticks measured: {done} in {elapsed:.1f} s ({done / elapsed:.0f} ticks/s), "
        f"after {args.warmup} warm-up"
    )
    for s in stats.values():
        last = f"{s.last_duration_s * 1000:.2f} ms" if s.last_duration_s is not None else "-"
        print(f"  loop {s.name}: {s.ticks} ticks, {s.failures} failures, last tick {last}")
    rss_growth = (rss_after - rss_before) / MB
    print(f"RSS: {rss_before / MB:.1f} MB -> {rss_after / MB:.1f} MB (growth {rss_growth:+.2f} MB)")
    ok = rss_growth <= GOAL_MB
    if heap_growth is not None:
        print(f"Python heap growth (tracemalloc): {heap_growth / MB:+.3f} MB")
        for stat in diff[:5]:
            print(f"  {stat.size_diff / 1024:+8.1f} KiB  {stat.traceback[0]}")
        ok = ok and heap_growth / MB <= GOAL_MB
    print(f"goal: growth <= {GOAL_MB:g} MB -> {'met' if ok else 'NOT met'}")
    print("API p50/p99 latency: see bench/api_latency.py")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.0, help="accelerated interval in seconds")
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of the embedded one")
    parser.add_argument("--no-tracemalloc", dest="tracemalloc", action="store_false")
    args = parser.parse_args()
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    folder = tempfile.mkdtemp(prefix="pw-bench-loops-")
    os.chmod(folder, 0o755)
    scratch = None
    server = None
    try:
        if args.database_url:
            server = parse_database_url(args.database_url)
            scratch = server.set(database=f"pw_bench_loops_{os.getpid()}")
            with psycopg.connect(libpq_conninfo(server), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{scratch.database}"')
            settings = Settings(
                database_url=scratch.render_as_string(hide_password=False),
                data_dir=Path(folder),
                secret_key=key,
            )
        else:
            settings = Settings(data_dir=Path(folder), secret_key=key)
        ok = asyncio.run(bench(args, settings))
    finally:
        if scratch is not None and server is not None:
            with psycopg.connect(libpq_conninfo(server), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
