"""Small text formatting helpers shared by the views (times are shown in local time)."""

from __future__ import annotations

from datetime import datetime, timedelta


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(start: datetime | None, end: datetime | None, *, now: datetime | None = None) -> str:
    if start is None:
        return ""
    stop = end or now
    if stop is None:
        return ""
    return span(stop - start)


def span(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
