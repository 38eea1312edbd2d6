"""Engine start-up on the embedded PostgreSQL: cold (fresh folder) and warm, median of N runs.

    python bench/startup.py [--runs 5]

Cold: a new data folder (initdb + start + migrations + key check).
Warm: the same folder again, server stopped in between (start + connect + no-op migration).
Goal (issue 2): cold <= 1.5 s, warm <= 0.8 s on a 2-core machine.
Each run is a fresh process, so imports are not cached between runs; import time is shown apart.
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

CHILD = r"""
import asyncio, json, sys, time
t0 = time.perf_counter()
from podwarden.engine import Engine, Settings
t1 = time.perf_counter()
async def main():
    t2 = time.perf_counter()
    engine = Engine(Settings(data_dir=sys.argv[1], secret_key=sys.argv[2]))
    await engine.open()
    t3 = time.perf_counter()
    await engine.close()
    print(json.dumps({"import": t1 - t0, "ready": t3 - t2}))
asyncio.run(main())
"""


def one(folder: str, key: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODWARDEN_")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, folder, key], env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    cold, warm, imports = [], [], []
    for _ in range(args.runs):
        folder = tempfile.mkdtemp(prefix="pw-bench-")
        os.chmod(folder, 0o755)
        try:
            first = one(folder, key)
            cold.append(first["ready"])
            imports.append(first["import"])
            warm.append(one(folder, key)["ready"])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"runs: {args.runs} (each a fresh process)")
    print(f"import podwarden.engine:  median {statistics.median(imports):.3f} s")
    print(
        f"cold Engine() -> ready:   median {statistics.median(cold):.3f} s  (goal <= 1.5 s)  {sorted(cold)}"
    )
    print(
        f"warm Engine() -> ready:   median {statistics.median(warm):.3f} s  (goal <= 0.8 s)  {sorted(warm)}"
    )


if __name__ == "__main__":
    main()
