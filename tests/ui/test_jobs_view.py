"""Jobs view: a job started through the engine appears, its output streams, cancel works."""

from __future__ import annotations

import asyncio

from podwarden.engine.errors import PodWardenError
from podwarden.engine.models.jobs import JobState
from podwarden.engine.services.jobs import JobHandle
from podwarden.ui.models.jobs import JobsModel
from tests.ui.helpers import settle, wait_until


async def test_a_running_job_streams_into_the_pane_and_can_be_cancelled(
    engine, admin_user, open_session
) -> None:
    window = await open_session(admin_user)
    window.select_section("Jobs")
    view = window.views["Jobs"]
    assert view.model.rowCount() == 0

    more = asyncio.Event()

    async def work(handle: JobHandle) -> None:
        await handle.line("step 1: connecting")
        await more.wait()
        await handle.line("step 2: applying")
        await asyncio.sleep(60)

    job_id = await engine.jobs.create(admin_user, "demo", "Demo deploy")
    runner = asyncio.ensure_future(engine.jobs.run(job_id, work))
    await wait_until(lambda: view.model.row_of(job_id) is not None, what="the new job in the table")
    assert view.select_job(job_id)
    await wait_until(lambda: "step 1: connecting" in view.output.toPlainText(), what="the first line")
    await wait_until(
        lambda: view.selected_job and view.selected_job.state is JobState.RUNNING, what="running"
    )
    assert view.cancel_button.isEnabled()

    more.set()
    await wait_until(lambda: "step 2: applying" in view.output.toPlainText(), what="the second line")
    assert view.output.toPlainText() == "step 1: connecting\nstep 2: applying\n"  # each line once

    view.cancel_button.click()
    info = await asyncio.wait_for(runner, 15)
    assert info.state is JobState.CANCELLED
    await wait_until(
        lambda: view.selected_job and view.selected_job.state is JobState.CANCELLED,
        what="cancelled in the view",
    )
    assert view.model.index(view.model.row_of(job_id), 1).data() == "cancelled"
    assert not view.cancel_button.isEnabled()
    assert view.error.text() == "Cancelled."


async def test_filter_by_state_and_paging(engine, admin_user, open_session, qtmodeltester) -> None:
    async def fail(handle: JobHandle) -> None:
        await handle.line("boom")
        raise PodWardenError("it broke")

    failed = await engine.jobs.create(admin_user, "demo", "Failing job")
    await engine.jobs.run(failed, fail)
    for i in range(230):
        await engine.jobs.create(admin_user, "bulk", f"queued {i:03d}")
    window = await open_session(admin_user)
    window.select_section("Jobs")
    view = window.views["Jobs"]
    model: JobsModel = view.model
    assert model.rowCount() == 100  # one page
    assert model.key_at(0) != failed  # newest first: the failed one is the oldest
    assert model.canFetchMore()
    model.fetchMore()
    await settle(window)
    assert model.rowCount() == 200
    model.fetchMore()
    await settle(window)
    assert model.rowCount() == 231
    assert not model.canFetchMore()
    assert len(set(model.keys)) == 231

    view.state_filter.setCurrentIndex(view.state_filter.findData("failed"))
    await settle(window)
    assert model.keys == [failed]
    view.select_job(failed)
    await wait_until(lambda: view.output.toPlainText() == "boom\n", what="the failed job's output")
    assert view.error.text() == "it broke"
    assert not view.cancel_button.isEnabled()

    # A job that starts running leaves a "queued" filter (refreshed by its change notice).
    view.state_filter.setCurrentIndex(view.state_filter.findData("queued"))
    await settle(window)
    assert model.rowCount() == 100
    qtmodeltester.check(model, force_py=True)  # (the tester also pages: it calls fetchMore)
    await settle(window)
    assert {model.row_at(r).state for r in range(model.rowCount())} == {JobState.QUEUED}
    first = model.key_at(0)
    await engine.jobs.cancel(admin_user, first)
    await wait_until(lambda: model.row_of(first) is None, what="the cancelled job to leave the queued list")


async def test_show_job_finds_a_job_beyond_the_loaded_page_and_filter(
    engine, admin_user, open_session
) -> None:
    oldest = await engine.jobs.create(admin_user, "demo", "The oldest job")
    for i in range(120):
        await engine.jobs.create(admin_user, "bulk", f"queued {i:03d}")
    window = await open_session(admin_user)
    window.select_section("Jobs")
    view = window.views["Jobs"]
    await settle(window)
    view.state_filter.setCurrentIndex(view.state_filter.findData(JobState.FAILED.value))
    await settle(window)
    assert view.model.rowCount() == 0
    window.select_section("Dashboard")
    window.show_job(oldest)  # what "Show in Jobs" in the deployments view calls
    await wait_until(lambda: view.selected == oldest)
    assert window.pages.currentWidget() is view
    assert view.state_filter.currentData() is None and view.title.text().endswith("The oldest job")
