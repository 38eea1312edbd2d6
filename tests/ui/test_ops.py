"""The op helper: results, stale-request cancelling, progress and the one error panel."""

from __future__ import annotations

import asyncio
import logging
import uuid

from PySide6.QtWidgets import QWidget

from podwarden.engine.errors import NotFoundError
from podwarden.ui.ops import BUSY_GRACE_MS, run_op, runner_for
from tests.ui.helpers import wait_until


def _child(window) -> QWidget:  # type: ignore[no-untyped-def]
    widget = QWidget(window)
    return widget


async def test_success_reaches_the_callback(engine, window, admin_user) -> None:
    got = []
    task = run_op(_child(window), lambda: engine.users.list_users(admin_user), on_success=got.append)
    assert window.op_runner.pending == 1  # the runner holds the task
    await task
    assert [u.username for u in got[0]] == ["admin"]
    assert window.op_runner.pending == 0
    assert window.error_dock.panel.entries == []


async def test_a_newer_request_with_the_same_key_cancels_the_stale_one(engine, window, admin_user) -> None:
    owner = _child(window)
    results: list[str] = []

    async def slow() -> str:
        await asyncio.sleep(5)
        return "stale"

    async def fresh() -> str:
        return (await engine.users.list_users(admin_user))[0].username

    stale = run_op(owner, slow, on_success=results.append, key="k")
    newer = run_op(owner, fresh, on_success=results.append, key="k")
    other = run_op(owner, fresh, on_success=results.append, key="other")
    await asyncio.gather(newer, other)
    await asyncio.sleep(0)
    assert stale.cancelled()
    assert results == ["admin", "admin"]
    assert window.op_runner.pending == 0


async def test_an_engine_error_goes_to_the_error_panel(engine, window, admin_user) -> None:
    missing = uuid.uuid4()
    await run_op(_child(window), lambda: engine.jobs.get_job(admin_user, missing), on_success=None)
    panel = window.error_dock.panel
    assert panel.latest is not None
    assert panel.latest.message == f"Job {missing} does not exist."
    assert "NotFoundError" in panel.latest.details
    assert window.error_dock.isVisible()  # non-modal: a dock, not a dialog
    panel.dismiss.click()
    assert not window.error_dock.isVisible()


async def test_a_failure_handler_may_keep_the_error_out_of_the_panel(engine, window, admin_user) -> None:
    seen: list[BaseException] = []

    def handle(error: BaseException) -> bool:
        seen.append(error)
        return True

    await run_op(
        _child(window),
        lambda: engine.jobs.get_job(admin_user, uuid.uuid4()),
        on_success=None,
        on_failure=handle,
    )
    assert isinstance(seen[0], NotFoundError)
    assert window.error_dock.panel.entries == []


async def test_unexpected_errors_are_logged_with_their_traceback_and_shown(window, caplog) -> None:
    async def broken() -> None:
        raise KeyError("oops")

    with caplog.at_level(logging.ERROR, logger="podwarden.ui.ops"):
        await run_op(_child(window), broken, on_success=None, on_failure=lambda _e: True)
    entry = window.error_dock.panel.latest
    assert entry is not None and entry.message == "Unexpected error: KeyError: 'oops'"
    assert "Traceback" in entry.details and "in broken" in entry.details
    assert any(r.exc_info for r in caplog.records)
    window.error_dock.panel.clear()  # the window fixture fails on unexpected errors left behind


async def test_callbacks_are_skipped_when_their_widget_is_gone(engine, window, admin_user) -> None:
    owner = _child(window)
    got = []
    task = run_op(owner, lambda: engine.users.list_users(admin_user), on_success=got.append)
    owner.setParent(None)
    import shiboken6

    shiboken6.delete(owner)
    await task
    assert got == []


async def test_slow_ops_show_the_busy_indicator(window) -> None:
    release = asyncio.Event()
    task = run_op(_child(window), release.wait, on_success=None, progress_text="Probing gpu-01…")
    await asyncio.sleep(BUSY_GRACE_MS / 1000 + 0.1)
    assert window.busy.isVisible()
    assert window.busy.label.text() == "Probing gpu-01…"
    release.set()
    await task
    await wait_until(lambda: not window.busy.isVisible(), what="the busy indicator to hide")


async def test_quick_ops_do_not_flash_the_busy_indicator(window) -> None:
    shown = []
    window.op_runner.busy_changed.connect(lambda busy, _text: shown.append(busy))
    await run_op(_child(window), lambda: asyncio.sleep(0.01), on_success=None)
    await asyncio.sleep(BUSY_GRACE_MS / 1000 + 0.05)
    assert shown == []


def test_a_widget_outside_a_window_has_no_runner(qtbot) -> None:
    import pytest

    lonely = QWidget()
    qtbot.addWidget(lonely)
    with pytest.raises(RuntimeError, match="not inside a window"):
        runner_for(lonely)
