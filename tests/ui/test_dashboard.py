"""Dashboard counts come from GROUP BY queries: exact at any size, deployments included."""

from __future__ import annotations

from sqlalchemy import insert

from podwarden.engine.models.jobs import JobState
from podwarden.engine.models.workloads import Deployment
from tests.ui.helpers import settle


async def _seed_deployments(engine, statuses: dict[str, int]) -> None:
    rows = [
        {"name": f"{status}-{i}", "namespace": "apps", "status": status}
        for status, n in statuses.items()
        for i in range(n)
    ]
    async with engine.db.unit_of_work() as uow:
        await uow.session.execute(insert(Deployment), rows)


async def test_the_dashboard_counts_deployments_by_status(engine, admin_user, open_session) -> None:
    window = await open_session(admin_user)
    dashboard = window.views["Dashboard"]
    await settle(window)
    assert dashboard.deployments_count.text() == "0"
    assert dashboard.deployments_note.text() == "none yet"
    await _seed_deployments(engine, {"failed": 2, "deployed": 3, "draft": 1, "paused": 1})
    dashboard.reload()
    await settle(window)
    assert dashboard.deployments_count.text() == "7"
    # Known statuses in a fixed order, unknown ones after them.
    assert dashboard.deployments_note.text() == "3 deployed · 2 failed · 1 draft · 1 paused"


async def test_job_counts_come_from_one_count_per_state(engine, admin_user, open_session) -> None:
    for i in range(3):
        await engine.jobs.create(admin_user, "test", f"job {i}")
    window = await open_session(admin_user)
    dashboard = window.views["Dashboard"]
    await settle(window)
    counts = dashboard.state_counts_text()
    assert counts[JobState.QUEUED.value] == "3"
    assert {v for k, v in counts.items() if k != JobState.QUEUED.value} == {"0"}
