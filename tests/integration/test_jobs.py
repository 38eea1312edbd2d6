"""Jobs: states, streamed output, cancel, failure, and recovery after a dead engine."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from sqlalchemy.engine import URL

from podwarden.engine import Engine, Settings
from podwarden.engine.db.urls import libpq_conninfo
from podwarden.engine.errors import ConflictError, ExternalServiceError
from podwarden.engine.models.jobs import JobState
from podwarden.engine.security.rbac import Actor


async def test_successful_job_streams_output(engine: Engine, operator: Actor) -> None:
    job_id = await engine.jobs.create(operator, "probe", "Probe web-1")

    async def work(handle):
        for i in range(3):
            await handle.line(f"step {i}")
        return {"hosts": 1}

    info = await engine.jobs.run(job_id, work)
    assert info.state is JobState.SUCCEEDED and info.result == {"hosts": 1}
    assert info.started_at is not None and info.finished_at is not None
    assert info.actor == "user:ops"
    assert await engine.jobs.read_output(operator, job_id) == "step 0\nstep 1\nstep 2\n"
    assert await engine.jobs.read_output(operator, job_id, offset=7) == "step 1\nstep 2\n"


async def test_failed_job_keeps_output_and_reason(engine: Engine, operator: Actor) -> None:
    job_id = await engine.jobs.create(operator, "provision", "Provision db-1")

    async def work(handle):
        await handle.line("TASK [k3s : install]")
        raise ExternalServiceError("ssh", "db-1 refused the SSH key.")

    info = await engine.jobs.run(job_id, work)
    assert info.state is JobState.FAILED and info.error == "db-1 refused the SSH key."
    assert "TASK [k3s : install]" in await engine.jobs.read_output(operator, job_id)


async def test_cancel_stops_a_running_job_and_keeps_output(engine: Engine, operator: Actor) -> None:
    job_id = await engine.jobs.create(operator, "wipe", "Wipe h1")
    started = asyncio.Event()

    async def work(handle):
        await handle.line("started")
        started.set()
        await asyncio.sleep(60)

    runner = asyncio.create_task(engine.jobs.run(job_id, work))
    await started.wait()
    await engine.jobs.cancel(operator, job_id)
    info = await asyncio.wait_for(runner, 10)
    assert info.state is JobState.CANCELLED
    assert await engine.jobs.read_output(operator, job_id) == "started\n"
    with pytest.raises(ConflictError, match="already ended"):
        await engine.jobs.cancel(operator, job_id)


async def test_cancel_from_another_engine(engine: Engine, settings: Settings, operator: Actor) -> None:
    job_id = await engine.jobs.create(operator, "deploy", "Deploy")
    started = asyncio.Event()

    async def work(handle):
        started.set()
        await asyncio.sleep(60)

    runner = asyncio.create_task(engine.jobs.run(job_id, work))
    await started.wait()
    async with Engine(settings) as other:
        await other.jobs.cancel(operator, job_id)
    info = await asyncio.wait_for(runner, 10)
    assert info.state is JobState.CANCELLED


async def test_closing_the_engine_finishes_its_jobs(settings: Settings, operator: Actor) -> None:
    engine = Engine(settings)
    await engine.open()
    job_id = await engine.jobs.create(operator, "deploy", "Deploy")
    started = asyncio.Event()

    async def work(handle):
        started.set()
        await asyncio.sleep(60)

    runner = asyncio.create_task(engine.jobs.run(job_id, work))
    await started.wait()
    await engine.close()
    await asyncio.gather(runner, return_exceptions=True)
    async with Engine(settings) as again:
        assert (await again.jobs.get_job(operator, job_id)).state is JobState.CANCELLED


async def test_jobs_of_a_dead_engine_become_interrupted(
    engine: Engine, settings: Settings, operator: Actor, database_url: URL
) -> None:
    dead_engine = uuid.uuid4()
    mine = await engine.jobs.create(operator, "probe", "still mine")
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, title, state, params, result, output, error, actor, engine_id, "
            "cancel_requested, started_at) VALUES (%s, 'provision', 'orphan', 'running', '{}', '{}', "
            "'half the output', '', 'user:ops', %s, false, now())",
            (uuid.uuid4(), dead_engine),
        )
        conn.execute("UPDATE jobs SET state = 'running' WHERE id = %s", (mine,))
    async with Engine(settings) as second:  # the first engine is still alive
        jobs = {j.title: j for j in await second.jobs.list_jobs(operator)}
    assert jobs["orphan"].state is JobState.INTERRUPTED
    assert "stopped before it finished" in jobs["orphan"].error
    assert jobs["still mine"].state is JobState.RUNNING


async def test_a_job_runs_once(engine: Engine, operator: Actor) -> None:
    job_id = await engine.jobs.create(operator, "probe", "once")

    async def work(handle):
        return None

    await engine.jobs.run(job_id, work)
    with pytest.raises(ConflictError, match="not queued"):
        await engine.jobs.run(job_id, work)


async def test_counts_by_state_and_output_length(engine: Engine, operator: Actor) -> None:
    done = await engine.jobs.create(operator, "probe", "done")

    async def work(handle):
        await handle.write("12345")

    await engine.jobs.run(done, work)
    await engine.jobs.create(operator, "probe", "waiting")
    counts = await engine.jobs.count_by_state(operator)
    assert counts[JobState.SUCCEEDED] == 1 and counts[JobState.QUEUED] == 1 and counts[JobState.FAILED] == 0
    assert (await engine.jobs.get_job(operator, done)).output_length == 5
