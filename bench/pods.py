"""Listing 10,000 pods through the Kubernetes adapter: first page, full list, memory.

    python bench/pods.py [--pods 10000] [--page 500] [--runs 3]

Two servers, each in a child process so this process measures only the client side:
kmock's emulator with PodWarden's additions (tests/fakes/kube.py: it pages with
limit/continue, which kmock 0.8 alone ignores; it rebuilds and sorts the whole list
on every page, so it dominates the time), and a static server answering the same
pages from JSON encoded once, which leaves the adapter's own cost: the ``kubernetes``
client over a loopback socket, JSON parsing and the PodInfo records.

Memory is measured with tracemalloc in a separate pass (peak Python allocations during
one full list, and what the 10,000 records hold afterwards; tracemalloc slows
allocation, so the timed runs go without it) and as the process's peak RSS. Median
of ``--runs``; the first run also shows the cold first page (which includes building
the ApiClient).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SERVER = r"""
import asyncio, json, sys
import kmock
from tests.fakes.kube import PodWardenEmulator, make_node, make_pod, make_namespace

async def main(count):
    async with PodWardenEmulator() as emu, kmock.Server(emu) as srv:
        for n in range(50):
            emu.add("nodes", make_node(f"node-{n:02d}", gpus=n % 3))
        for ns in range(20):
            emu.add("namespaces", make_namespace(f"team-{ns:02d}"))
        for i in range(count):
            emu.add("pods", make_pod(f"team-{i % 20:02d}", f"app-{i:05d}", node=f"node-{i % 50:02d}"))
        print(json.dumps({"url": str(srv.url).rstrip("/")}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it

asyncio.run(main(int(sys.argv[1])))
"""


STATIC = r"""
# The same pods from a plain HTTP server that answers limit/continue from pages
# encoded once: what is left of the time is the adapter's.
import base64, json, sys
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from tests.fakes.kube import make_pod

count = int(sys.argv[1])
pods = sorted(
    (make_pod(f"team-{i % 20:02d}", f"app-{i:05d}", node=f"node-{i % 50:02d}") for i in range(count)),
    key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]),
)

@lru_cache(maxsize=None)
def page(offset, limit):
    meta = {"resourceVersion": "1"}
    if limit and offset + limit < len(pods):
        meta["continue"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        meta["remainingItemCount"] = len(pods) - offset - limit
        items = pods[offset:offset + limit]
    else:
        items = pods[offset:]
    return json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items}).encode()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        query = parse_qs(urlsplit(self.path).query)
        token = query.get("continue", [""])[0]
        offset = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        body = page(offset, int(query.get("limit", ["0"])[0]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
import threading
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
"""


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def one_run(url: str, page: int, expected: int, cold: bool) -> dict[str, float]:
    from podwarden.engine.adapters.kube import KubeClient
    from tests.fakes.kube import kubeconfig_text

    client = KubeClient(kubeconfig_text(url), request_timeout=60)  # the server ignores the token
    result: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        first = await client.list_pods_page(None, page)
        result["first_page_s"] = time.perf_counter() - t0
        assert len(first.items) == min(page, expected)
        if cold:
            t0 = time.perf_counter()
            await client.list_pods_page(None, page)
            result["warm_first_page_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        pods = []
        pages = 0
        async for chunk in client.iter_pod_pages(page_size=page):
            pods.extend(chunk.items)
            pages += 1
        result["full_list_s"] = time.perf_counter() - t0
        assert len(pods) == expected, (len(pods), expected)
        result["pages"] = pages
        del pods

        # Memory in a second pass: tracemalloc slows allocation down several times.
        gc.collect()
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        pods = await client.list_pods()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(pods) == expected
        result["peak_mib"] = (peak - base) / 2**20
        result["held_mib"] = (current - base) / 2**20
        del pods
    finally:
        client.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    servers = (
        ("kmock emulator with PodWarden's paging (tests/fakes/kube.py)", SERVER),
        ("static paging server (pages encoded once: the adapter's own cost)", STATIC),
    )
    for index, (label, code) in enumerate(servers):
        bench_server(label, code, args, first_server=index == 0)


def bench_server(label: str, code: str, args: argparse.Namespace, *, first_server: bool) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-c", code, str(args.pods)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["url"]
        ready = time.perf_counter() - t0
        rss_before = rss_kib("VmRSS")
        runs = [asyncio.run(one_run(url, args.page, args.pods, cold=i == 0)) for i in range(args.runs)]
        rss_peak = rss_kib("VmHWM")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)

    cold_note = ", imports kubernetes" if first_server else ""

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs if key in r)

    print(f"{label}: ready in {ready:.1f} s")
    print(f"  pods={args.pods:,} page={args.page} pages={int(runs[0]['pages'])} runs={args.runs} (median)")
    rows = [
        (f"first page, cold (new ApiClient{cold_note})", f"{runs[0]['first_page_s'] * 1000:.1f} ms"),
        ("first page, warm (same client)", f"{runs[0]['warm_first_page_s'] * 1000:.1f} ms"),
        ("first page (new client each run)", f"{med('first_page_s') * 1000:.1f} ms"),
        ("full list", f"{med('full_list_s') * 1000:.1f} ms"),
        ("per pod", f"{med('full_list_s') / args.pods * 1e6:.1f} µs"),
        ("tracemalloc peak during a full list", f"{med('peak_mib'):.1f} MiB"),
        (f"held by {args.pods:,} PodInfo records", f"{med('held_mib'):.1f} MiB"),
        ("process RSS before / peak", f"{rss_before / 1024:.1f} / {rss_peak / 1024:.1f} MiB"),
    ]
    for name, value in rows:
        print(f"  {name:<52} {value:>16}")


if __name__ == "__main__":
    main()
