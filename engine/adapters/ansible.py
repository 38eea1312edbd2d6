"""Run playbooks with ansible-runner in a worker thread, streaming output line by line.

::

    runner = AnsibleRunner(playbooks_dir)
    result = await runner.run(
        PlaybookRun("provision.yml", host, extravars, private_key=key, known_hosts=pinned,
                    timeout=settings.timeouts.ansible_run, secrets=(token,)),
        on_line=handle.line,
    )

- ansible-runner runs in ``asyncio.to_thread``; its event handler (runner thread)
  hands each output line to the event loop through ``call_soon_threadsafe`` and
  an ``asyncio.Queue``; ``on_line`` is awaited on the loop, in order.
- Everything the run needs lives in a private temporary folder deleted afterwards:
  the private data dir, the SSH private key (mode 0600), the pinned
  ``known_hosts`` file and the extra vars. Host key checking is on
  (``StrictHostKeyChecking=yes`` against that file only).
- ``ansible-playbook`` is taken from this Python's ``bin/`` (first on ``PATH``).
- Cancelling the awaiting task stops the run (ansible-runner's cancel callback),
  waits for the thread, delivers the output produced so far and re-raises
  ``CancelledError``. Passing ``timeout`` stops the run the same way and raises
  :class:`TemporaryServiceError`.
- Lines containing any value of ``secrets`` are masked before they leave the adapter.
- The result mirrors ansible-runner's: status, rc, per-host stats, plus the
  first failure's reason (task name and message) for the job's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from podwarden.engine.errors import PermanentServiceError, TemporaryServiceError
from podwarden.engine.render.inventory import InventoryHost, render_inventory
from podwarden.engine.security.crypto import SecretValue

__all__ = [
    "SERVICE",
    "AnsibleRunner",
    "PlaybookResult",
    "PlaybookRun",
    "mask",
]

SERVICE: Final = "ansible"
MASK: Final = "********"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAX_REASON: Final = 400
_LATE_SWEEP: Final = 10.0  # seconds
_STAT_KEYS: Final = {
    "ok": "ok",
    "changed": "changed",
    "failures": "failed",
    "dark": "unreachable",
    "skipped": "skipped",
    "rescued": "rescued",
    "ignored": "ignored",
}

LineSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class PlaybookRun:
    """One playbook on one host. ``secrets``: values that must never appear in the output."""

    playbook: str
    host: InventoryHost
    extravars: Mapping[str, Any]
    known_hosts: str
    private_key: SecretValue | None = None
    timeout: float = 3600.0
    secrets: tuple[str, ...] = ()
    ssh_timeout: float = 10.0


@dataclass(frozen=True)
class PlaybookResult:
    """As ansible-runner reports it: ``status`` successful/failed/canceled/timeout, ``rc``,
    ``stats`` per host (ok, changed, failed, unreachable, skipped, …) and the first failure."""

    status: str
    rc: int
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    reason: str = ""
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value replaced (longest first)."""
    for value in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


class _Collector:
    """Runs in the runner thread: turns events into lines for the loop and notes failures."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[str | None],
        secrets: Sequence[str],
    ) -> None:
        self.loop = loop
        self.queue = queue
        self.secrets = secrets
        self.reason = ""
        self.unreachable = False

    def __call__(self, event: Mapping[str, Any]) -> bool:
        text = event.get("stdout") or ""
        if text:
            for line in _ANSI.sub("", str(text)).splitlines():
                self.loop.call_soon_threadsafe(self.queue.put_nowait, mask(line, self.secrets))
        kind = event.get("event")
        if kind in ("runner_on_failed", "runner_on_unreachable") and not self.reason:
            data = event.get("event_data") or {}
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                return True
            res = data.get("res") or {}
            message = _result_message(res)
            task = str(data.get("task") or "").strip()
            host = str(data.get("host") or "").strip()
            where = f"task '{task}' on {host}" if task else host
            self.unreachable = kind == "runner_on_unreachable"
            verb = "could not reach the host" if self.unreachable else "failed"
            reason = f"{where} {verb}: {message}".strip()
            self.reason = mask(_clip(reason), self.secrets)
        return True


def _result_message(res: Mapping[str, Any]) -> str:
    parts = [str(res.get("msg") or "").strip()]
    for key in ("stderr", "module_stderr", "stdout"):
        value = str(res.get(key) or "").strip()
        if value and value not in parts[0]:
            parts.append(value.splitlines()[-1])
            break
    return " — ".join(p for p in parts if p) or "no message"


def _clip(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= _MAX_REASON else one[: _MAX_REASON - 1] + "…"


def _host_key_reason(reason: str) -> str | None:
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in reason or "Host key verification failed" in reason:
        return (
            "the SSH host key does not match the pinned one; PodWarden will not connect until an admin "
            "checks and accepts the new key"
        )
    return None


class AnsibleRunner:
    """Runs playbooks from ``playbooks_dir`` (``playbooks/`` installed with PodWarden)."""

    def __init__(self, playbooks_dir: Path) -> None:
        self.playbooks_dir = Path(playbooks_dir)

    async def run(self, spec: PlaybookRun, *, on_line: LineSink) -> PlaybookResult:
        """Run ``spec`` to the end (or until cancelled / timed out), streaming lines to ``on_line``."""
        playbook = self.playbooks_dir / spec.playbook
        if not playbook.is_file():
            raise PermanentServiceError(SERVICE, f"The playbook {playbook} does not exist.")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        collector = _Collector(loop, queue, spec.secrets)
        stop = threading.Event()
        deadline = time.monotonic() + spec.timeout
        timed_out = threading.Event()

        def cancel_callback() -> bool:
            if stop.is_set():
                return True
            if time.monotonic() > deadline:
                timed_out.set()
                return True
            return False

        folder = Path(tempfile.mkdtemp(prefix="podwarden-ansible-"))
        os.chmod(folder, 0o700)
        thread_task = asyncio.ensure_future(
            asyncio.to_thread(self._run_blocking, spec, playbook, folder, collector, cancel_callback)
        )
        thread_task.add_done_callback(lambda _t: loop.call_soon(queue.put_nowait, None))
        cancelled = False
        try:
            while True:
                try:
                    line = await queue.get()
                except asyncio.CancelledError:
                    cancelled = True
                    stop.set()
                    continue  # keep draining until the runner has stopped
                if line is None:
                    break
                try:
                    await on_line(line)
                except asyncio.CancelledError:
                    cancelled = True
                    stop.set()
            runner_status, rc, stats = await asyncio.shield(thread_task)
        finally:
            stop.set()
            while not thread_task.done():  # never delete the folder under a running playbook
                try:
                    await asyncio.shield(thread_task)
                except asyncio.CancelledError:
                    cancelled = True
                except Exception:  # noqa: S110 - the runner's own error is raised above
                    pass
            shutil.rmtree(folder, ignore_errors=True)
        if cancelled or timed_out.is_set():
            # A forked ansible worker may outlive a stopped run by a moment and recreate part
            # of the folder: sweep once more a little later (a thread: the loop may be gone).
            sweep = threading.Timer(_LATE_SWEEP, shutil.rmtree, args=(folder, True))
            sweep.daemon = True
            sweep.start()
        if cancelled:
            raise asyncio.CancelledError
        if timed_out.is_set():
            raise TemporaryServiceError(
                SERVICE,
                f"The playbook {spec.playbook} did not finish within {spec.timeout:g} s (Ansible timeout).",
            )
        reason = collector.reason
        changed_key = _host_key_reason(reason)
        if changed_key:
            reason = f"{spec.host.name}: {changed_key}"
        if not reason and (runner_status != "successful" or rc != 0):
            reason = f"ansible-playbook ended with status {runner_status} (rc {rc})"
        return PlaybookResult(runner_status, rc, stats, reason, collector.unreachable)

    # -- in the worker thread ----------------------------------------------------------------
    def _run_blocking(
        self,
        spec: PlaybookRun,
        playbook: Path,
        folder: Path,
        collector: _Collector,
        cancel_callback: Callable[[], bool],
    ) -> tuple[str, int, dict[str, dict[str, int]]]:
        import ansible_runner  # heavy import, only when a playbook runs

        (folder / "runner").mkdir(mode=0o700)
        known_hosts = folder / "known_hosts"
        known_hosts.write_text(spec.known_hosts.strip() + "\n")
        key_file: Path | None = None
        if spec.private_key is not None:
            key_file = folder / "id_key"
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                text = spec.private_key.reveal()
                handle.write(text if text.endswith("\n") else text + "\n")
        inventory = render_inventory(
            spec.host,
            known_hosts_file=str(known_hosts),
            private_key_file=str(key_file) if key_file else None,
        )
        bindir = str(Path(sys.prefix) / "bin")
        envvars = {
            "PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_LOCAL_TEMP": str(folder / "tmp"),
            # Connection sharing only within this run: a master left from an earlier run would
            # skip the host key check and log in with a key that may have been replaced since.
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(folder / "cp"),
            "ANSIBLE_TIMEOUT": str(max(1, int(spec.ssh_timeout))),
            "ANSIBLE_GATHERING": "implicit",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
        }
        try:
            runner = ansible_runner.run(
                private_data_dir=str(folder / "runner"),
                project_dir=str(self.playbooks_dir),
                playbook=str(playbook),
                inventory=inventory,
                extravars=dict(spec.extravars),
                envvars=envvars,
                event_handler=collector,
                cancel_callback=cancel_callback,
                quiet=True,
                json_mode=False,
                rotate_artifacts=1,
                suppress_env_files=False,
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise PermanentServiceError(
                SERVICE, f"ansible-runner could not run {spec.playbook}: {exc.__class__.__name__}: {exc}"
            ) from exc
        finally:
            _close_masters(folder / "cp")
            _kill_leftovers(envvars["ANSIBLE_LOCAL_TEMP"])
        status = str(runner.status)
        rc = int(runner.rc) if runner.rc is not None else -1
        return status, rc, _per_host(runner.stats)


def _close_masters(folder: Path) -> None:
    """Ask every SSH connection master of the run to exit (they would linger for ControlPersist)."""
    if not folder.is_dir():
        return
    for socket_path in folder.iterdir():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "podwarden-control-master"],
                capture_output=True,
                timeout=5,
                check=False,
            )


def _kill_leftovers(local_temp: str) -> None:
    """Kill processes of this run that outlived it (a cancelled run's forked workers and
    their ssh clients): they carry the run's own ``ANSIBLE_LOCAL_TEMP`` (Linux ``/proc``)."""
    marker = f"ANSIBLE_LOCAL_TEMP={local_temp}".encode()
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError, ValueError):
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)


def _per_host(stats: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for key, name in _STAT_KEYS.items():
        for host, count in ((stats or {}).get(key) or {}).items():
            result.setdefault(str(host), dict.fromkeys(_STAT_KEYS.values(), 0))[name] = int(count)
    return result
