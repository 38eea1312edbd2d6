"""probe.sh stays cheap: few processes per probe, and its pure-shell JSON escaping is right.

The probe runs on many hosts at once, and each process it starts costs the host
CPU time (issue 3: probing ≥ 20× faster than Ansible). The JSON escaping used to
be a ``tr | sed | tr`` pipeline; it is shell parameter expansion now, checked here
against Python's reading of the same rules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from podwarden.engine.parsers.probe import parse_probe_output

SCRIPT = Path(__file__).resolve().parents[2] / "playbooks" / "files" / "probe.sh"
#: Processes probe.sh may start on a plain Linux host without GPUs or systemd: sed
#: (over /proc/cpuinfo), lsblk, ip and cat (over /proc/*/comm), uname before Linux
#: 6.1 — plus headroom for lspci / nvidia-smi / systemctl where present. The old
#: script started 55.
MAX_PROCESSES = 9


def _shell() -> str:
    return shutil.which("dash") or "/bin/sh"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_probe_starts_only_a_handful_of_processes(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    completed = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o", str(trace), _shell(), str(SCRIPT)],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    parse_probe_output(completed.stdout)  # still a complete probe
    forks = [line for line in trace.read_text().splitlines() if re.search(r"\b(v?fork|clone3?)\(", line)]
    assert 1 <= len(forks) <= MAX_PROCESSES, "\n".join(forks)


def _functions(*names: str) -> str:
    """The named shell functions, cut out of probe.sh."""
    text = SCRIPT.read_text()
    parts = []
    for name in names:
        start = text.index(f"\n{name}() {{\n") + 1
        parts.append(text[start : text.index("\n}\n", start) + 3])
    return "NL='\n'\n" + "".join(parts)


def _expected(value: str) -> str:
    """What json_str promises: drop control characters other than TAB, LF and CR;
    escape backslash, double quote, TAB, CR and LF; everything else as is."""
    kept = "".join(c for c in value if ord(c) >= 32 or c in "\t\n\r")
    escaped = (
        kept.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\t", "\\t")
        .replace("\r", "\\r")
        .replace("\n", "\\n")
    )
    return f'"{escaped}"'


VALUES = [
    "plain",
    "",
    "a\\b",
    'say "hi"',
    "tab\there",
    "cr\rhere",
    "line1\nline2\n\nline4",
    "ctl\x01\x02x\x1fy\x7fz",
    "utf8 été ✓",
    '\\\\"\t\r\n\x01end',
    "ends with a backslash\\",
    "star * and ? and [ab] and $HOME and `x`",
    '00:02.0 "VGA compatible controller [0300]" "Intel [8086]"\n01:00.0 "3D controller [0302]" "NVIDIA [10de]"',
]


def test_json_str_escapes_like_json() -> None:
    script = _functions("_init_ctl", "replace_all", "json_str") + 'json_str "$1"\nprintf "%s" "$_j"\n'
    for value in VALUES:
        completed = subprocess.run(
            [_shell(), "-c", script, "probe", value], capture_output=True, timeout=30, check=False
        )
        assert completed.returncode == 0, completed.stderr
        out = completed.stdout.decode("utf-8")
        assert out == _expected(value), value
        kept = "".join(c for c in value if ord(c) >= 32 or c in "\t\n\r")
        assert json.loads(out) == kept
