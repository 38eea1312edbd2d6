"""Changes made by another engine (another desktop, the headless service) show up by themselves."""

from __future__ import annotations

import asyncio

from podwarden.engine import Engine
from podwarden.engine.services.jobs import JobHandle
from podwarden.ui.changes import ChangeHub
from tests.ui.helpers import wait_until


async def test_another_engine_changes_appear_without_a_refresh(
    engine, settings, admin_user, open_session
) -> None:
    window = await open_session(admin_user)
    dashboard = window.views["Dashboard"]
    users = window.views["Settings"].users
    jobs = window.views["Jobs"]
    assert users.model.rowCount() == 1 and jobs.model.rowCount() == 0
    assert dashboard.users_count.text() == "1"

    async with Engine(settings) as other:
        other_admin = await other.users.authenticate("admin", "admin-password-1")
        window.select_section("Settings")
        await other.users.create_user(other_admin, "remote-bob", "remote-password", "viewer")
        await wait_until(lambda: users.model.rowCount() == 2, what="the user made elsewhere")
        assert users.model.row_at(1).username == "remote-bob"

        window.select_section("Jobs")
        step = asyncio.Event()

        async def work(handle: JobHandle) -> None:
            await handle.line("remote line 1")
            await step.wait()
            await handle.line("remote line 2")

        job_id = await other.jobs.create(other_admin, "remote", "Job on the other engine")
        runner = asyncio.ensure_future(other.jobs.run(job_id, work))
        await wait_until(lambda: jobs.model.row_of(job_id) is not None, what="the remote job")
        jobs.select_job(job_id)
        await wait_until(lambda: "remote line 1" in jobs.output.toPlainText(), what="remote output")
        step.set()
        await runner
        await wait_until(lambda: "remote line 2" in jobs.output.toPlainText(), what="more remote output")
        await wait_until(lambda: jobs.model.index(0, 1).data() == "succeeded", what="the final state")

        # The dashboard was hidden meanwhile: it catches up when shown.
        window.select_section("Dashboard")
        await wait_until(lambda: dashboard.users_count.text() == "2", what="the dashboard user count")
        await wait_until(lambda: dashboard.state_counts_text()["succeeded"] == "1", what="job counts")


async def test_a_burst_of_notices_becomes_one_signal_per_table(qtbot) -> None:
    from podwarden.engine.db import listen  # tests may import the engine's internals

    hub = ChangeHub(delay_ms=30)
    got: list[tuple[str, object]] = []
    hub.changed.connect(lambda table, ids: got.append((table, ids)))
    for i in range(50):
        hub.notice(listen.Change("jobs", (str(i % 3),)))
    hub.notice(listen.Change("users", ("u1",)))
    await wait_until(lambda: got, what="the flush")
    await asyncio.sleep(0.05)
    assert sorted(got) == [("jobs", ("0", "1", "2")), ("users", ("u1",))]

    got.clear()
    hub.notice(listen.Change("jobs", ("9",)))
    hub.notice(listen.Change("*", None))  # the listener reconnected: reload everything
    await wait_until(lambda: got, what="the reload-all flush")
    assert got == [("*", None)]
