"""``podwarden`` start-up on the embedded database: process start → first painted window,
and → engine ready; median of N runs, each a fresh process (offscreen Qt).

    python bench/gui_startup.py [--runs 5]

"first run": a new data folder (initdb + migrations); "again": the same folder, the
server stopped in between. The app runs with ``--debug --quit-when-ready``; its
"window painted" and "ready on" log lines are timed as they arrive on stderr.

One more run goes through a probe wrapper that counts Kubernetes clients built
(``KubeClient``) and TCP connections to anything but the database, and the script
asserts that no cluster was contacted at start. Goal (issue 5): ≤ 1.5 s to the window.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PODWARDEN = str(Path(sys.executable).with_name("podwarden"))

PROBE = r"""
import atexit, json, socket, sys
from podwarden.engine.adapters import kube
built = []
original = kube.KubeClient.__init__
def counting(self, *args, **kwargs):
    built.append(1)
    original(self, *args, **kwargs)
kube.KubeClient.__init__ = counting
tcp = []
connect = socket.socket.connect
def watching(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        tcp.append(str(address))
    return connect(self, address)
socket.socket.connect = watching
def report():
    print("PROBE " + json.dumps({"kube_clients": len(built), "tcp": tcp,
          "kubernetes_imported": "kubernetes" in sys.modules}), file=sys.stderr, flush=True)
atexit.register(report)
from podwarden.app.gui import main
main(["podwarden", "--debug", "--quit-when-ready"])
"""


def _env(folder: str, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODWARDEN_")}
    env.update(
        QT_QPA_PLATFORM="offscreen",
        PODWARDEN_DATA_DIR=folder,
        PODWARDEN_SECRET_KEY=key,
        KUBECONFIG="/nonexistent",
    )
    return env


def one(folder: str, key: str, command: list[str]) -> tuple[dict[str, float], list[str]]:
    start = time.monotonic()
    process = subprocess.Popen(command, env=_env(folder, key), stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    marks: dict[str, float] = {}
    lines: list[str] = []
    for line in process.stderr:
        lines.append(line)
        if "window painted" in line and "painted" not in marks:
            marks["painted"] = time.monotonic() - start
        elif " ready on " in line and "ready" not in marks:
            marks["ready"] = time.monotonic() - start
    process.wait(timeout=120)
    marks["exit"] = time.monotonic() - start
    if process.returncode != 0 or "painted" not in marks or "ready" not in marks:
        raise SystemExit(f"podwarden failed (exit {process.returncode}):\n{''.join(lines[-30:])}")
    return marks, lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    command = [PODWARDEN, "--debug", "--quit-when-ready"]
    first: list[dict[str, float]] = []
    again: list[dict[str, float]] = []
    for _ in range(args.runs):
        folder = tempfile.mkdtemp(prefix="pw-gui-bench-")
        os.chmod(folder, 0o755)
        try:
            first.append(one(folder, key, command)[0])
            again.append(one(folder, key, command)[0])
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    folder = tempfile.mkdtemp(prefix="pw-gui-probe-")
    os.chmod(folder, 0o755)
    try:
        _marks, lines = one(folder, key, [sys.executable, "-c", PROBE])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    probe = json.loads(next(line for line in lines if line.startswith("PROBE "))[6:])

    def med(runs: list[dict[str, float]], mark: str) -> str:
        values = sorted(r[mark] for r in runs)
        return f"median {statistics.median(values):.3f} s  {[round(v, 3) for v in values]}"

    print(f"runs: {args.runs} (each a fresh `podwarden` process, offscreen, embedded PostgreSQL)")
    print(f"first run  process start -> window painted: {med(first, 'painted')}  (goal <= 1.5 s)")
    print(f"first run  process start -> engine ready:   {med(first, 'ready')}")
    print(f"again      process start -> window painted: {med(again, 'painted')}  (goal <= 1.5 s)")
    print(f"again      process start -> engine ready:   {med(again, 'ready')}")
    print(
        f"clusters contacted at start: kube clients built = {probe['kube_clients']}, "
        f"kubernetes client imported = {probe['kubernetes_imported']}, TCP connections = {probe['tcp']}"
    )
    assert probe["kube_clients"] == 0, "a Kubernetes client was built at start"
    assert probe["tcp"] == [], f"TCP connections at start: {probe['tcp']}"
    print("OK: no cluster was contacted at start (no kube client built, no TCP connection)")


if __name__ == "__main__":
    main()
