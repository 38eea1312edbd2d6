"""Periodic loops (discovery, consistency audit) with leader election across engines."""

from podwarden.engine.loops.leader import LOOPS_CLASS, SERVER_KEY, LeaderLock, loop_key
from podwarden.engine.loops.runner import (
    EngineLike,
    Interval,
    LoopRunner,
    LoopSpec,
    LoopStats,
    Mode,
    default_loops,
    desktop_runner,
)

__all__ = [
    "LOOPS_CLASS",
    "SERVER_KEY",
    "EngineLike",
    "Interval",
    "LeaderLock",
    "LoopRunner",
    "LoopSpec",
    "LoopStats",
    "Mode",
    "default_loops",
    "desktop_runner",
    "loop_key",
]
