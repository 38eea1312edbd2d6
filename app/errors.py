"""Turning failures into one clear sentence for a person, with an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from podwarden.engine.errors import ConfigurationError, PodWardenError, ValidationError

T = TypeVar("T")

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def explain(exc: BaseException) -> tuple[str, int]:
    """(message, exit code) for an exception that reached the top."""
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted.", EXIT_INTERRUPTED
    if isinstance(exc, ValidationError) and exc.errors:
        details = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
        return f"{exc} ({details})" if details not in str(exc) else str(exc), EXIT_ERROR
    if isinstance(exc, ConfigurationError):
        return str(exc), EXIT_CONFIG
    if isinstance(exc, PodWardenError):
        return str(exc), EXIT_ERROR
    return f"Unexpected error: {exc.__class__.__name__}: {exc}. Run with --debug for details.", EXIT_ERROR


def run_main(prog: str, fn: Callable[[], T], *, debug: bool = False) -> T:
    """Run ``fn``; on failure print one sentence to stderr and exit non-zero."""
    try:
        return fn()
    except (PodWardenError, KeyboardInterrupt, Exception) as exc:
        if debug:
            raise
        message, code = explain(exc)
        print(f"{prog}: {message}", file=sys.stderr)
        raise SystemExit(code) from None
