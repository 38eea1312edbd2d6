"""The embedded PostgreSQL lifecycle, against real servers (no mocks).

Every test uses its own data folder. Tests that do not care about initdb start
from a copy of one cluster made once per module. Each test's folder is removed
afterwards, after killing any server a failed test left behind. Run with ``-s``
to see the measured start times and the error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from podwarden.engine.db.embedded import SERVER_USER, EmbeddedPostgres
from podwarden.engine.errors import ConfigurationError

pytestmark = pytest.mark.timeout(120)

IS_ROOT = os.geteuid() == 0

# A separate PodWarden process: starts the embedded server on argv[1], then
#   "hold":  prints "started <postmaster pid>" and waits to be killed;
#   "query": prints the result of the SQL in argv[3], stops, prints "stopped".
CHILD = """
import asyncio, sys
from pathlib import Path
import psycopg
from podwarden.engine.db.embedded import EmbeddedPostgres

async def main() -> None:
    pg = EmbeddedPostgres(Path(sys.argv[1]))
    await pg.start()
    pid = (pg.pgdata / "postmaster.pid").read_text().split()[0]
    print("started", pid, flush=True)
    if sys.argv[2] == "hold":
        await asyncio.sleep(3600)
    with psycopg.connect(pg.conninfo) as conn:
        print(conn.execute(sys.argv[3]).fetchone()[0], flush=True)
    await pg.stop()
    print("stopped", flush=True)

asyncio.run(main())
"""


# -- helpers ------------------------------------------------------------------------------


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped by init."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def wait_dead(pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} did not exit"
        time.sleep(0.02)


def wait_reaped(pid: int, timeout: float = 30.0) -> None:
    """Gone for good: not even a zombie any more."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"process {pid} was not reaped"
        time.sleep(0.05)


def assert_stopped(pgdata: Path, pid: int) -> None:
    """Stopped cleanly: the postmaster is gone and so is postmaster.pid."""
    wait_dead(pid)
    assert not (pgdata / "postmaster.pid").exists()


def running_pid(pg: EmbeddedPostgres) -> int:
    pid = postmaster_pid(pg.pgdata)
    assert pid is not None
    assert alive(pid)
    return pid


def query(pg: EmbeddedPostgres, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(pg.conninfo, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def spawn_child(data_dir: Path, mode: str, sql: str = "select 1") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), mode, sql],
        stdout=subprocess.PIPE,
        text=True,
    )


def copy_cluster(template: Path, data_dir: Path) -> None:
    """A copy of the template cluster, ownership kept (matters as root)."""
    data_dir.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(template / "postgres"), str(data_dir / "postgres")], check=True)


def kill_servers_under(folder: Path) -> None:
    """Immediate shutdown of any server a failed test left running."""
    for pid_file in folder.rglob("postmaster.pid"):
        pid = postmaster_pid(pid_file.parent)
        if pid is not None and alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
            wait_dead(pid)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content (to prove nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """Where the data folders of this module live.

    Not pytest's ``tmp_path``: as root the server user must traverse the parents
    of the data folder, and every pytest run resets ``/tmp/pytest-of-root`` to
    mode 0700, which would break a concurrent run of this module.
    """
    folder = Path(tempfile.mkdtemp(prefix="podwarden-pg-test-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tmp_path(scratch: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh folder under ``scratch`` (shadows pytest's own ``tmp_path``).

    Named short, so that the socket fits in PGDATA unless a test wants otherwise.
    """
    name = re.sub(r"\W", "", request.node.name.removeprefix("test_"))[:12]
    folder = Path(tempfile.mkdtemp(prefix=name + "-", dir=scratch))
    folder.chmod(0o755)
    yield folder
    kill_servers_under(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def template(scratch: Path) -> Path:
    """A data folder holding a cluster with table ``t`` (1 row), server stopped."""
    data_dir = scratch / "template"

    async def make() -> None:
        pg = EmbeddedPostgres(data_dir)
        await pg.start()
        query(pg, "create table t (id int primary key, name text); insert into t values (1, 'one')")
        await pg.stop()

    asyncio.run(make())
    return data_dir


@pytest.fixture
def copy(template: Path, tmp_path: Path) -> Path:
    """A data folder holding a copy of the template cluster."""
    data_dir = tmp_path / "data"
    copy_cluster(template, data_dir)
    return data_dir


# -- 1. start, use, stop, start again (and 5. timings) --------------------------------------------


async def test_start_stop_and_data_persists(tmp_path: Path) -> None:
    data_dir = tmp_path / "data dir"  # a space, as in macOS "Application Support"
    # What a first start killed during initdb leaves behind: replaced silently.
    (data_dir / "postgres.initdb" / "global").mkdir(parents=True)
    (data_dir / "postgres.initdb" / "PG_VERSION").write_text("18\n")
    pg = EmbeddedPostgres(data_dir)

    began = time.perf_counter()
    url = await pg.start()
    cold = time.perf_counter() - began

    assert pg.started
    assert url == pg.url
    assert url.startswith("postgresql+psycopg://postgres@/postgres?host=")
    assert make_url(url).query["host"] == str(pg.socket_dir) == str(data_dir / "postgres")
    assert (data_dir / "postgres" / "PG_VERSION").read_text().strip() == "18"
    assert not (data_dir / "postgres.initdb").exists()
    query(pg, "create table t (id int primary key, name text)")
    query(pg, "insert into t values (1, 'one'), (2, 'zwei')")
    assert query(pg, "show listen_addresses") == [("",)]
    # The URL works as is with SQLAlchemy.
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("select count(*) from t")).scalar_one() == 2
    engine.dispose()
    pid = running_pid(pg)
    if IS_ROOT:  # runs as the system user, without root's groups
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
        groups = next(line for line in status if line.startswith("Groups:")).split()[1:]
        assert uids == [str(pwd.getpwnam(SERVER_USER).pw_uid)] * 4
        assert groups == []

    began = time.perf_counter()
    await pg.stop()
    stop = time.perf_counter() - began

    assert not pg.started
    assert_stopped(pg.pgdata, pid)
    await pg.stop()  # idempotent

    began = time.perf_counter()
    await pg.start()
    warm = time.perf_counter() - began
    assert await pg.start() == pg.url  # idempotent
    assert query(pg, "select id, name from t order by id") == [(1, "one"), (2, "zwei")]
    pid = running_pid(pg)

    other = EmbeddedPostgres(data_dir)
    began = time.perf_counter()
    await other.start()
    share = time.perf_counter() - began
    await other.stop()

    await pg.stop()
    assert_stopped(pg.pgdata, pid)
    print(f"\ncold start {cold:.2f} s, warm start {warm:.2f} s, share {share:.3f} s, stop {stop:.2f} s")


# -- 2. unclean exits -------------------------------------------------------------------------------


async def test_killed_client_leaves_server_for_next_process(copy: Path) -> None:
    child = spawn_child(copy, "hold")
    assert child.stdout is not None
    line = child.stdout.readline().split()
    assert line[:1] == ["started"], line
    server_pid = int(line[1])

    child.send_signal(signal.SIGKILL)
    child.wait(10)
    child.stdout.close()

    # Nobody stopped it: the server still runs...
    assert alive(server_pid)
    pg = EmbeddedPostgres(copy)
    await pg.start()
    # ...and we share it instead of starting another one.
    assert postmaster_pid(pg.pgdata) == server_pid
    assert query(pg, "select name from t") == [("one",)]

    await pg.stop()  # the killed child holds no lock any more: we are the last client

    assert_stopped(pg.pgdata, server_pid)


async def test_killed_postmaster_recovers_with_data_intact(copy: Path) -> None:
    pg = EmbeddedPostgres(copy)
    await pg.start()
    query(pg, "insert into t values (2, 'committed before the crash')")
    pid = running_pid(pg)

    os.kill(pid, signal.SIGKILL)
    wait_dead(pid)
    assert postmaster_pid(pg.pgdata) == pid  # a stale postmaster.pid stays behind

    await pg.stop()  # nothing to stop, no error
    # At once: the killed postmaster may still be a zombie (init has not reaped
    # it) and its backends may still be exiting.
    await pg.start()

    new_pid = running_pid(pg)
    assert new_pid != pid
    assert query(pg, "select id, name from t order by id") == [(1, "one"), (2, "committed before the crash")]
    assert "not properly shut down" in pg.log_file.read_text()

    # Again, but start only once the pid is really gone: PostgreSQL itself then
    # ignores the stale postmaster.pid.
    query(pg, "insert into t values (3, 'three')")
    os.kill(new_pid, signal.SIGKILL)
    await pg.stop()
    wait_reaped(new_pid)
    assert postmaster_pid(pg.pgdata) == new_pid
    await pg.start()
    new_pid = running_pid(pg)
    assert query(pg, "select count(*) from t") == [(3,)]

    # Once more, and this time (as after a reboot) the dead postmaster's pid now
    # belongs to an unrelated program run by the same user as the server.
    query(pg, "insert into t values (4, 'four')")
    os.kill(new_pid, signal.SIGKILL)
    wait_dead(new_pid)
    await pg.stop()
    unrelated = subprocess.Popen(["sleep", "60"], cwd="/", user=SERVER_USER if IS_ROOT else None)
    try:
        for lock_file in (pg.pgdata / "postmaster.pid", pg.pgdata / ".s.PGSQL.5432.lock"):
            lines = lock_file.read_text().splitlines()
            assert lines[0] == str(new_pid)
            lock_file.write_text("\n".join([str(unrelated.pid), *lines[1:]]) + "\n")

        await pg.start()

        assert query(pg, "select count(*) from t") == [(4,)]
        assert running_pid(pg) != unrelated.pid
        assert unrelated.poll() is None  # left alone
        await pg.stop()
    finally:
        unrelated.kill()
        unrelated.wait()


# -- 3. two users of one folder ----------------------------------------------------------------------


async def test_second_process_shares_and_last_one_stops(copy: Path) -> None:
    pg = EmbeddedPostgres(copy)
    await pg.start()
    server_pid = running_pid(pg)
    query(pg, "insert into t values (2, 'two')")

    child = spawn_child(copy, "query", "select string_agg(name, ',' order by id) from t")
    out, _ = child.communicate(timeout=60)

    assert child.returncode == 0
    assert out.split("\n")[:3] == [f"started {server_pid}", "one,two", "stopped"]
    # The child stopped using it, but we still hold it: it keeps running.
    assert alive(server_pid)
    assert query(pg, "select count(*) from t") == [(2,)]

    await pg.stop()

    assert_stopped(pg.pgdata, server_pid)


async def test_long_path_socket_elsewhere_and_two_instances_share(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    first, second = EmbeddedPostgres(data_dir), EmbeddedPostgres(data_dir)
    await first.start()
    assert first.socket_dir != first.pgdata
    assert len(str(first.socket_dir / ".s.PGSQL.5432")) < 104
    assert (first.socket_dir.stat().st_mode & 0o777) == 0o700
    pid = running_pid(first)

    # A second user in the same process finds the socket through postmaster.pid.
    await second.start()
    assert second.socket_dir == first.socket_dir
    socket_dir = first.socket_dir
    await first.stop()
    assert query(second, "select 1") == [(1,)]  # still running for the second
    await second.stop()

    assert_stopped(first.pgdata, pid)
    socket_dir.rmdir()  # empty again: the server removed its socket and lock file


# -- 4. unusable folders ----------------------------------------------------------------------------


async def test_folder_with_junk_is_refused_and_kept(tmp_path: Path) -> None:
    pgdata = tmp_path / "data" / "postgres"
    pgdata.mkdir(parents=True)
    (pgdata / "notes.txt").write_text("my precious notes")
    (pgdata / "sub").mkdir()
    (pgdata / "sub" / "x.bin").write_bytes(b"\x00\x01")
    before = tree(pgdata)
    pg = EmbeddedPostgres(tmp_path / "data")

    with pytest.raises(ConfigurationError) as caught:
        await pg.start()

    message = str(caught.value)
    print(f"\njunk folder: {message}")
    assert str(pgdata) in message
    assert "move it aside" in message
    assert "\n" not in message
    assert tree(pgdata) == before
    assert not pg.started


async def test_cluster_of_another_major_version_is_refused(tmp_path: Path) -> None:
    pgdata = tmp_path / "data" / "postgres"
    pgdata.mkdir(parents=True, mode=0o700)
    (pgdata / "PG_VERSION").write_text("16\n")
    if IS_ROOT:
        server = pwd.getpwnam(SERVER_USER)
        os.chown(pgdata, server.pw_uid, server.pw_gid)

    with pytest.raises(
        ConfigurationError, match=r"created by PostgreSQL 16.*bundles PostgreSQL 18.*pg_upgrade"
    ):
        await EmbeddedPostgres(tmp_path / "data").start()

    assert (pgdata / "PG_VERSION").read_text() == "16\n"


async def test_damaged_control_file_is_refused_and_kept(copy: Path) -> None:
    pgdata = copy / "postgres"
    control = pgdata / "global" / "pg_control"
    good = control.read_bytes()
    garbled = good[:16] + b"\xa5" * 64 + good[80:]
    truncated = good[:100]

    for damage, content in (("garbled", garbled), ("truncated", truncated)):
        control.write_bytes(content)
        before = tree(pgdata)
        pg = EmbeddedPostgres(copy)

        with pytest.raises(ConfigurationError) as caught:
            await pg.start()

        message = str(caught.value)
        print(f"\n{damage} pg_control: {message}")
        assert str(pgdata) in message
        assert "control file" in message or "pg_control" in message
        assert "move it aside or restore it from a backup" in message
        assert "\n" not in message
        assert not pg.started
        pid = postmaster_pid(pgdata)  # a PANIC leaves postmaster.pid behind
        assert pid is None or not alive(pid)
        after = tree(pgdata)
        assert after.pop("log").startswith(before.pop("log"))  # the log grew
        after.pop("postmaster.pid", None)
        assert after == before  # nothing else changed, nothing was deleted

    control.write_bytes(good)
    pg = EmbeddedPostgres(copy)
    await pg.start()  # repaired: starts again
    assert query(pg, "select count(*) from t") == [(1,)]
    await pg.stop()


async def test_path_pg_ctl_cannot_quote_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="choose another folder"):
        await EmbeddedPostgres(tmp_path / "price$list").start()
    assert not (tmp_path / "price$list").exists()


async def test_start_lock_held_too_long(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fd = os.open(data_dir / "postgres.start.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        pg = EmbeddedPostgres(data_dir, start_timeout=0.3)
        with pytest.raises(ConfigurationError, match="Another PodWarden process"):
            await pg.start()
        assert not pg.started
    finally:
        os.close(fd)
