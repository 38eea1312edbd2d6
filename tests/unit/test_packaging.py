"""The built wheel holds every module of engine/, ui/ and app/, plus migrations and playbooks."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_wheel_contains_every_module(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False, timeout=280,
    )  # fmt: skip
    if result.returncode != 0 and "No module named build" in result.stderr:
        pytest.skip("the 'build' package is not installed")
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("podwarden-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, package in (("engine", "podwarden/engine"), ("ui", "podwarden/ui"), ("app", "podwarden/app")):
        for path in (ROOT / folder).rglob("*.py"):
            if "__pycache__" not in path.parts:
                expected.add(f"{package}/{path.relative_to(ROOT / folder).as_posix()}")
    expected |= {"podwarden/engine/migrations/script.py.mako", "podwarden/playbooks/files/probe.sh"}
    missing = expected - names
    assert not missing, f"missing from the wheel: {sorted(missing)}"
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
