"""The periodic loops with leader election, on a real PostgreSQL.

Several :class:`Engine` objects on one database stand for several engine
processes: they coordinate only through PostgreSQL advisory locks. Ticks record
(engine, start, end) so the tests can check that each tick ran in exactly one
engine and that no two ticks overlapped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import psycopg
import pytest

from podwarden.engine import Engine, Settings
from podwarden.engine.db.urls import libpq_conninfo
from podwarden.engine.errors import PodWardenError
from podwarden.engine.loops import LoopRunner, LoopSpec, default_loops, desktop_runner
from podwarden.engine.security.rbac import Actor

INTERVAL = 0.2


@dataclass
class Tick:
    engine: uuid.UUID
    start: float
    end: float | None = None


@dataclass
class Recorder:
    """A tick function per engine that records when it ran, into one shared list."""

    ticks: list[Tick] = field(default_factory=list)
    duration: float = 0.02

    def tick_for(self, engine_id: uuid.UUID) -> Callable[[], Awaitable[None]]:
        async def tick() -> None:
            record = Tick(engine_id, time.monotonic())
            self.ticks.append(record)
            await asyncio.sleep(self.duration)
            record.end = time.monotonic()

        return tick

    def finished(self) -> list[Tick]:
        return [t for t in self.ticks if t.end is not None]

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.finished()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.finished())} of {count} ticks within {timeout} s")
            await asyncio.sleep(0.005)


def assert_no_overlap(ticks: list[Tick]) -> None:
    ordered = sorted(ticks, key=lambda t: t.start)
    for before, after in itertools.pairwise(ordered):
        assert before.end is not None
        assert after.start >= before.end, f"ticks overlap: {before} and {after}"


@pytest.fixture
async def engines(settings: Settings) -> AsyncIterator[list[Engine]]:
    opened: list[Engine] = []
    try:
        for _ in range(3):
            eng = Engine(settings)
            await eng.open()
            opened.append(eng)
        yield opened
    finally:
        for eng in opened:
            await eng.close()


def runners_for(engines: list[Engine], recorder: Recorder, name: str = "test-loop") -> list[LoopRunner]:
    return [LoopRunner(e, [LoopSpec(name, INTERVAL, recorder.tick_for(e.engine_id))]) for e in engines]


async def test_three_engines_run_each_tick_once(engines: list[Engine]) -> None:
    recorder = Recorder()
    runners = runners_for(engines, recorder)
    started = time.monotonic()
    for runner in runners:
        await runner.start()
    await recorder.wait_for(10)
    for runner in runners:
        await runner.stop()
    elapsed = time.monotonic() - started

    ticks = recorder.finished()
    assert_no_overlap(ticks)
    assert len({t.engine for t in ticks}) == 1, "the leader never died, so one engine ran every tick"
    # Three engines, yet one tick per interval (not three): at most elapsed/interval + 1.
    assert len(recorder.ticks) <= elapsed / INTERVAL + 1
    counts = [r.stats()["test-loop"].ticks for r in runners]
    assert sorted(counts)[:2] == [0, 0] and sum(counts) == len(ticks)
    assert all(not r.stats()["test-loop"].leading for r in runners)  # stop() released leadership


async def test_leader_stopping_hands_over_within_one_interval(engines: list[Engine]) -> None:
    recorder = Recorder()
    runners = runners_for(engines, recorder)
    for runner in runners:
        await runner.start()
    await recorder.wait_for(3)
    leader_id = recorder.finished()[0].engine
    index = [e.engine_id for e in engines].index(leader_id)
    await runners[index].stop()
    await engines[index].close()
    stopped_at = time.monotonic()
    before = len(recorder.ticks)
    await recorder.wait_for(before + 3)
    for runner in runners:
        await runner.stop()

    after = [t for t in recorder.finished() if t.start >= stopped_at]
    assert after and all(t.engine != leader_id for t in after)
    assert len({t.engine for t in after}) == 1
    # A follower tries every interval, so it leads within one interval (+ scheduling slack).
    assert after[0].start - stopped_at <= INTERVAL + 0.5
    assert_no_overlap(recorder.finished())


async def test_leader_losing_its_connection_hands_over(engines: list[Engine]) -> None:
    recorder = Recorder(duration=0.005)
    runners = runners_for(engines, recorder)
    for runner in runners:
        await runner.start()
    await recorder.wait_for(3)
    leader_id = recorder.finished()[0].engine
    leader = runners[[e.engine_id for e in engines].index(leader_id)]
    pid = await leader.leader.backend_pid()
    assert pid is not None and leader.leader.leading == {"test-loop"}

    # Right after a tick ended, cut the leader's lock connection from the server side
    # (as when its machine vanishes): PostgreSQL releases its advisory locks.
    seen = len(recorder.finished())
    await recorder.wait_for(seen + 1)
    conninfo = libpq_conninfo(engines[0].db.url)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    killed_at = time.monotonic()
    before = len(recorder.ticks)
    await recorder.wait_for(before + 3)
    for runner in runners:
        await runner.stop()

    after = [t for t in recorder.finished() if t.start >= killed_at]
    # The old leader noticed (it dropped its locks); whoever locks first leads next —
    # usually a follower, but the old leader reconnecting first is just as correct.
    assert after, "nobody took over"
    assert after[0].start - killed_at <= INTERVAL + 2.0  # within one interval (+ slack for load)
    assert_no_overlap(recorder.finished())


async def test_failing_tick_is_logged_and_backs_off(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    interval = 0.05
    starts: list[float] = []
    outcomes = iter(["boom", "boom", "boom", "crash", None, None])

    async def flaky() -> None:
        starts.append(time.monotonic())
        outcome = next(outcomes, None)
        if outcome == "boom":
            raise PodWardenError("the thing is down")
        if outcome == "crash":
            raise RuntimeError("unexpected")

    caplog.set_level(logging.INFO, logger="podwarden.engine.loops")
    runner = LoopRunner(engine, [LoopSpec("flaky", interval, flaky)], backoff_cap=4)
    async with runner:
        deadline = time.monotonic() + 10
        while len(starts) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        stats = runner.stats()["flaky"]
    assert len(starts) >= 6
    assert stats.failures == 4 and stats.consecutive_failures == 0 and stats.ticks >= 6
    assert stats.last_error == "RuntimeError: unexpected"
    assert stats.last_duration_s is not None and stats.last_tick_at is not None
    failed = [r for r in caplog.records if "loop flaky failed" in r.getMessage()]
    assert len(failed) == 4
    assert "the thing is down" in failed[0].getMessage() and failed[0].levelno == logging.WARNING
    assert failed[3].levelno == logging.ERROR and failed[3].exc_info is not None  # traceback kept
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # After the n-th failure in a row the wait is interval × 2^(n-1), capped at × 4.
    for gap, factor in zip(gaps[:5], [1, 2, 4, 4, 1], strict=True):
        assert gap >= interval * factor * 0.9, (gaps, factor)


async def test_stop_cancels_a_running_tick(engine: Engine) -> None:
    entered = asyncio.Event()
    events: list[str] = []

    async def slow() -> None:
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    runner = LoopRunner(engine, [LoopSpec("slow", 1.0, slow)])
    await runner.start()
    await asyncio.wait_for(entered.wait(), 10)
    await asyncio.wait_for(runner.stop(), 10)
    assert events == ["cancelled"] and not runner.running
    assert runner.stats()["slow"].failures == 0  # a cancelled tick is not a failure


async def test_interval_is_read_before_every_wait(engine: Engine) -> None:
    intervals = [0.05, 0.3]
    starts: list[float] = []

    async def interval() -> float:
        return intervals[0]

    async def tick() -> None:
        starts.append(time.monotonic())

    async with LoopRunner(engine, [LoopSpec("changing", interval, tick)]) as runner:
        while len(starts) < 3:
            await asyncio.sleep(0.01)
        assert runner.stats()["changing"].interval_s == 0.05
        intervals.pop(0)
        count = len(starts)
        while len(starts) < count + 2:
            await asyncio.sleep(0.01)
        assert runner.stats()["changing"].interval_s == 0.3
    assert starts[-1] - starts[-2] >= 0.3 * 0.9


async def test_default_loops(engine: Engine, admin: Actor, caplog: pytest.LogCaptureFixture) -> None:
    from podwarden.engine.services.config import ConfigService

    loops = default_loops(engine)
    assert [spec.name for spec in loops] == ["discovery", "audit"]
    intervals = {spec.name: spec.interval_s for spec in loops}
    assert all(callable(i) for i in intervals.values())
    await ConfigService(engine.context).update_settings(
        admin, {"audit_interval_s": 42, "discovery_interval_s": 77}
    )
    discovery_interval, audit_interval = intervals["discovery"], intervals["audit"]
    assert callable(discovery_interval) and callable(audit_interval)
    assert await discovery_interval() == 77 and await audit_interval() == 42

    caplog.set_level(logging.INFO, logger="podwarden.engine.loops")
    async with LoopRunner(engine, loops, accelerated=0.02) as runner:
        deadline = time.monotonic() + 10
        while min(s.ticks for s in runner.stats().values()) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        stats = runner.stats()
    assert stats["discovery"].ticks >= 3 and stats["discovery"].failures == 0
    assert stats["audit"].ticks >= 3 and stats["audit"].failures == 0
    skipped = [r for r in caplog.records if r.getMessage().startswith("Tailscale discovery skipped")]
    assert len(skipped) == 1 and skipped[0].levelno == logging.INFO  # said once, not every tick


def test_bad_arguments(engine: Engine) -> None:
    async def tick() -> None:
        return None

    with pytest.raises(ValueError, match="unique"):
        LoopRunner(engine, [LoopSpec("a", 1, tick), LoopSpec("a", 1, tick)])
    with pytest.raises(ValueError, match="accelerated"):
        LoopRunner(engine, [], accelerated=-1)


# -- modes: a desktop's standby loops step back for a server engine ----------------------
def _runner(engine: Engine, recorder: Recorder, mode: str, **kw: object) -> LoopRunner:
    spec = LoopSpec("test-loop", INTERVAL, recorder.tick_for(engine.engine_id))
    return LoopRunner(engine, [spec], mode=mode, **kw)  # type: ignore[arg-type]


def _since(recorder: Recorder, moment: float) -> set[object]:
    return {t.engine for t in recorder.finished() if t.start >= moment}


async def test_standby_leads_alone_steps_back_for_a_server_and_returns(engines: list[Engine]) -> None:
    desktop, server, _ = engines
    recorder = Recorder()
    standby = _runner(desktop, recorder, "standby")
    await standby.start()
    await recorder.wait_for(3)
    assert _since(recorder, 0) == {desktop.engine_id}  # no server: the desktop runs the loop

    serving = _runner(server, recorder, "server")
    await serving.start()
    joined = time.monotonic()
    # Within a couple of intervals the standby releases its lock and the server leads.
    deadline = time.monotonic() + 10
    while server.engine_id not in _since(recorder, joined):
        assert time.monotonic() < deadline, "the server never took over"
        await asyncio.sleep(0.02)
    took_over = max(t.start for t in recorder.finished() if t.engine == server.engine_id)
    await recorder.wait_for(len(recorder.finished()) + 3)
    assert _since(recorder, took_over) == {server.engine_id}
    assert not standby.stats()["test-loop"].leading and serving.stats()["test-loop"].leading

    await serving.stop()
    left = time.monotonic()
    await recorder.wait_for(len(recorder.finished()) + 3)
    assert _since(recorder, left + INTERVAL) == {desktop.engine_id}  # the desktop resumes
    await standby.stop()
    assert_no_overlap(recorder.finished())


async def test_a_peer_competes_even_with_a_server(engines: list[Engine]) -> None:
    desktop, server, _ = engines
    recorder = Recorder()
    peer = _runner(desktop, recorder, "peer")
    await peer.start()
    await recorder.wait_for(2)
    serving = _runner(server, recorder, "server")
    await serving.start()
    joined = time.monotonic()
    await recorder.wait_for(len(recorder.finished()) + 4)
    assert _since(recorder, joined) == {desktop.engine_id}  # the peer keeps its lock
    await serving.stop()
    await peer.stop()


async def test_wait_first_ticks_after_one_interval(engine: Engine) -> None:
    recorder = Recorder()
    started = time.monotonic()
    async with _runner(engine, recorder, "standby", wait_first=True):
        await recorder.wait_for(1)
    assert recorder.finished()[0].start - started >= INTERVAL


def test_desktop_runner_follows_the_setting(engine: Engine, settings: Settings) -> None:
    engine.settings = settings.model_copy(update={"desktop_loops": "off"})
    assert desktop_runner(engine) is None
    engine.settings = settings.model_copy(update={"desktop_loops": "on"})
    on = desktop_runner(engine)
    assert on is not None and on.mode == "peer" and on.wait_first
    engine.settings = settings.model_copy(update={"desktop_loops": "auto"})
    auto = desktop_runner(engine)
    assert (
        auto is not None
        and auto.mode == "standby"
        and {s.name for s in auto.loops}
        == {
            "discovery",
            "audit",
        }
    )
