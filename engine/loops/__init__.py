"""Periodic loops (discovery, consistency audit) with leader election across engines."""

from podwarden.engine.loops.leader import LOOPS_CLASS, LeaderLock, loop_key
from podwarden.engine.loops.runner import EngineLike, Interval, LoopRunner, LoopSpec, LoopStats, default_loops

__all__ = [
    "LOOPS_CLASS",
    "EngineLike",
    "Interval",
    "LeaderLock",
    "LoopRunner",
    "LoopSpec",
    "LoopStats",
    "default_loops",
    "loop_key",
]
