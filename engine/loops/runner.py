"""The periodic loops: one task per loop, each tick run by the loop's leader only.

:class:`LoopRunner` runs a list of :class:`LoopSpec` for one engine. Every
interval, each loop asks :class:`~podwarden.engine.loops.leader.LeaderLock`
whether this engine leads it; the leader runs the tick, followers wait for the
next interval. So with several engines on one database each tick runs in exactly
one of them, and when the leader dies another one takes over within one interval.

- The interval is read again before every wait (a number, or an async function
  such as "the fleet setting ``audit_interval_s``"), so changed settings apply
  without a restart. ``accelerated`` replaces every interval (tests, benchmarks).
- A failing tick is logged with its reason and the loop goes on; after repeated
  failures the wait grows (interval × 2, × 4, …) up to ``backoff_cap`` intervals,
  and returns to the interval after the next success.
- :meth:`LoopRunner.stop` cancels running ticks and waits for them, then closes
  the lock connection (releasing leadership at once).
- :meth:`LoopRunner.stats` gives per-loop counters (ticks, failures, last error,
  last duration) for ``/metrics``.
- ``wait_first``: the first tick comes after one interval (desktops: nothing is
  contacted at start).
- ``mode``: ``"server"`` (``podwarden-engine run``) competes and announces itself;
  ``"peer"`` competes; ``"standby"`` (a desktop in ``auto``) competes only while no
  server engine runs loops, and steps back (releasing its locks) when one appears.
  :func:`desktop_runner` picks the desktop's mode from ``Settings.desktop_loops``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import psycopg

from podwarden.engine.db.urls import libpq_conninfo
from podwarden.engine.errors import ConfigurationError, PodWardenError
from podwarden.engine.loops.leader import LeaderLock
from podwarden.engine.services.base import Context, now

if TYPE_CHECKING:
    from podwarden.engine.engine import Engine

__all__ = [
    "EngineLike",
    "Interval",
    "LoopRunner",
    "LoopSpec",
    "LoopStats",
    "Mode",
    "default_loops",
    "desktop_runner",
]

log = logging.getLogger(__name__)

Interval = float | Callable[[], Awaitable[float]]
Mode = Literal["server", "peer", "standby"]
MIN_INTERVAL: Final = 0.0


class EngineLike(Protocol):
    """What the runner needs of an engine: its context (database, settings, id)."""

    @property
    def context(self) -> Context: ...


@dataclass(frozen=True)
class LoopSpec:
    """One periodic loop: a unique ``name`` (also its lock), its interval in seconds
    (a number or an async function read before every wait) and the tick to run."""

    name: str
    interval_s: Interval
    tick: Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class LoopStats:
    """Counters of one loop in this engine (a snapshot)."""

    name: str
    ticks: int = 0  # ticks that finished (successfully or not) in this engine
    failures: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_duration_s: float | None = None
    last_tick_at: datetime | None = None
    leading: bool = False
    interval_s: float | None = None


class LoopRunner:
    """Runs ``loops`` for one engine. Use ``async with LoopRunner(engine, loops):``
    or :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        engine: EngineLike,
        loops: list[LoopSpec],
        *,
        accelerated: float | None = None,
        backoff_cap: float = 8.0,
        mode: Mode = "peer",
        wait_first: bool = False,
    ) -> None:
        names = [spec.name for spec in loops]
        if len(set(names)) != len(names):
            raise ValueError(f"loop names must be unique: {names}")
        if accelerated is not None and accelerated < MIN_INTERVAL:
            raise ValueError("accelerated must be >= 0")
        if backoff_cap < 1:
            raise ValueError("backoff_cap must be >= 1")
        self.engine = engine
        self.loops = list(loops)
        self.accelerated = accelerated
        self.backoff_cap = backoff_cap
        self.mode: Mode = mode
        self.wait_first = wait_first  # the first tick after one interval, not at start
        self._stats: dict[str, LoopStats] = {spec.name: LoopStats(spec.name) for spec in loops}
        self._tasks: list[asyncio.Task[None]] = []
        self._leader: LeaderLock | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> LoopRunner:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    @property
    def leader(self) -> LeaderLock:
        if self._leader is None:
            raise PodWardenError("The loops are not running.")
        return self._leader

    async def start(self) -> None:
        if self._tasks:
            return
        ctx = self.engine.context
        self._leader = LeaderLock(
            libpq_conninfo(ctx.db.url),
            ctx.engine_id,
            connect_timeout=ctx.settings.timeouts.db_connect,
            server=self.mode == "server",
        )
        self._tasks = [
            asyncio.create_task(self._run(spec), name=f"podwarden-loop-{spec.name}") for spec in self.loops
        ]

    async def stop(self) -> None:
        """Cancel every loop (a running tick is cancelled too), wait for them, release the locks."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._leader is not None:
            await self._leader.close()
            self._leader = None
        for name, stats in self._stats.items():
            self._stats[name] = replace(stats, leading=False)

    def stats(self) -> dict[str, LoopStats]:
        """Per-loop counters (snapshots)."""
        return dict(self._stats)

    # -- one loop -------------------------------------------------------------------------
    async def _interval(self, spec: LoopSpec, last: float | None) -> float:
        if self.accelerated is not None:
            return self.accelerated
        if not callable(spec.interval_s):
            return float(spec.interval_s)
        try:
            return float(await spec.interval_s())
        except (PodWardenError, psycopg.Error, OSError) as exc:
            fallback = last if last is not None else 60.0
            log.warning("loop %s: cannot read its interval (%s); using %.0f s", spec.name, exc, fallback)
            return fallback

    async def _run(self, spec: LoopSpec) -> None:
        interval: float | None = None
        lock_trouble = False
        if self.wait_first:
            interval = await self._interval(spec, interval)
            await asyncio.sleep(interval)
        while True:
            interval = await self._interval(spec, interval)
            stats = self._stats[spec.name]
            try:
                leading = await self._may_lead(spec.name)
                if lock_trouble:
                    log.info("loop %s: the database answers again", spec.name)
                lock_trouble = False
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if not lock_trouble:
                    log.warning("loop %s: cannot reach the database for its lock (%s)", spec.name, exc)
                lock_trouble, leading = True, False
            self._stats[spec.name] = stats = replace(stats, leading=leading, interval_s=interval)
            delay = interval
            if leading:
                delay = await self._tick(spec, interval)
            await asyncio.sleep(delay)

    async def _may_lead(self, name: str) -> bool:
        if self.mode == "standby" and await self.leader.servers_present():
            if name in self.leader.leading:
                log.info("loop %s: a server engine runs the loops; this engine steps back", name)
                await self.leader.release(name)
            return False
        return await self.leader.try_lead(name)

    async def _tick(self, spec: LoopSpec, interval: float) -> float:
        """Run one tick; returns how long to wait before the next one."""
        started = time.perf_counter()
        stats = self._stats[spec.name]
        try:
            await spec.tick()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            duration = time.perf_counter() - started
            failures = stats.consecutive_failures + 1
            delay = interval * min(2.0 ** (failures - 1), self.backoff_cap)
            reason = str(exc) if isinstance(exc, PodWardenError) else f"{exc.__class__.__name__}: {exc}"
            self._stats[spec.name] = replace(
                stats,
                ticks=stats.ticks + 1,
                failures=stats.failures + 1,
                consecutive_failures=failures,
                last_error=reason,
                last_duration_s=duration,
                last_tick_at=now(),
            )
            if isinstance(exc, PodWardenError):
                log.warning("loop %s failed: %s (next try in %.1f s)", spec.name, reason, delay)
            else:
                log.error("loop %s failed (next try in %.1f s)", spec.name, delay, exc_info=exc)
            return max(delay - duration, 0.0) if failures == 1 else delay
        duration = time.perf_counter() - started
        self._stats[spec.name] = replace(
            stats,
            ticks=stats.ticks + 1,
            consecutive_failures=0,
            last_duration_s=duration,
            last_tick_at=now(),
        )
        return max(interval - duration, 0.0)


# -- PodWarden's loops ------------------------------------------------------------------------
def default_loops(engine: Engine) -> list[LoopSpec]:
    """Tailscale discovery and the consistency audit, with intervals from the fleet
    settings (``discovery_interval_s``, ``audit_interval_s``). Job recovery runs when
    the engine opens (Engine.open); DDNS joins when its service lands."""
    from podwarden.engine.services.audit import AuditService
    from podwarden.engine.services.config import ConfigService

    config = ConfigService(engine.context)
    audit: AuditService = getattr(engine, "audit", None) or AuditService(engine.context)
    skipped = False

    async def discovery_interval() -> float:
        return (await config.settings()).discovery_interval_s

    async def audit_interval() -> float:
        return (await config.settings()).audit_interval_s

    async def discovery_tick() -> object:
        nonlocal skipped
        try:
            result = await engine.discovery.run_discovery()
        except ConfigurationError as exc:
            if not skipped:
                log.info("Tailscale discovery skipped: %s", exc)
            skipped = True
            return None
        skipped = False
        return result

    return [
        LoopSpec("discovery", discovery_interval, discovery_tick),
        LoopSpec("audit", audit_interval, audit.run_audit),
    ]


def desktop_runner(engine: Engine) -> LoopRunner | None:
    """The desktop's loops per ``Settings.desktop_loops``: ``auto`` → standby (only
    while no ``podwarden-engine run`` is connected), ``on`` → a peer, ``off`` → None."""
    choice = engine.settings.desktop_loops
    if choice == "off":
        return None
    mode: Mode = "standby" if choice == "auto" else "peer"
    # wait_first: a desktop contacts no cluster (the audit does) and no tailnet at start.
    return LoopRunner(engine, default_loops(engine), mode=mode, wait_first=True)
