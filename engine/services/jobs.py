"""Jobs: the record of every long piece of work, with its output as it arrives.

A job is created ``queued`` by the engine that will run it, goes ``running``,
and ends ``succeeded``, ``failed`` or ``cancelled``. An engine that dies leaves
its jobs ``running``; the next engine to start marks them ``interrupted`` (the
owner is known dead when its presence lock is free, see db/presence.py).

:meth:`JobsService.run` is the one way to run work as a job: it records the
start, streams output through a :class:`JobHandle`, and records the final state
whatever happens, cancellation included.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from podwarden.engine.errors import ConflictError, NotFoundError, PodWardenError, ValidationError
from podwarden.engine.models.jobs import Job, JobState
from podwarden.engine.security.rbac import Access, Actor, Permissions, operation
from podwarden.engine.services.base import Service, check_page, get_or_404, now

log = logging.getLogger(__name__)

MAX_PAGE = 500


@dataclass(frozen=True)
class JobInfo:
    id: uuid.UUID
    kind: str
    title: str
    state: JobState
    actor: str
    subject_type: str | None
    subject_id: uuid.UUID | None
    error: str
    result: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    output_length: int = 0  # characters of output so far (a pane can open at the tail)


def _info(j: Job) -> JobInfo:
    return JobInfo(
        j.id, j.kind, j.title, j.state, j.actor, j.subject_type, j.subject_id, j.error, dict(j.result),
        j.created_at, j.started_at, j.finished_at, len(j.output or ""),
    )  # fmt: skip


class JobHandle:
    """Given to the work a job runs: append output, check for a cancel request."""

    def __init__(self, service: JobsService, job_id: uuid.UUID) -> None:
        self.service = service
        self.id = job_id

    async def write(self, text: str) -> None:
        await self.service.append_output(self.id, text)

    async def line(self, text: str) -> None:
        await self.write(text if text.endswith("\n") else text + "\n")


class JobsService(Service):
    _tasks: dict[uuid.UUID, asyncio.Task[Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks = {}

    # -- reading --------------------------------------------------------------------------
    @operation(Permissions.READ, Access.READ)
    async def list_jobs(
        self, actor: Actor, *, state: JobState | None = None, limit: int = 100, offset: int = 0
    ) -> list[JobInfo]:
        """Jobs, newest first."""
        limit, offset = check_page(limit, offset, MAX_PAGE)
        stmt = select(Job).order_by(Job.created_at.desc(), Job.id).limit(min(limit, MAX_PAGE)).offset(offset)
        if state is not None:
            stmt = stmt.where(Job.state == state)
        async with self.db.session() as session:
            return [_info(j) for j in (await session.execute(stmt)).scalars()]

    @operation(Permissions.READ, Access.READ)
    async def count_by_state(self, actor: Actor) -> dict[JobState, int]:
        """How many jobs are in each state (every state listed, zeros included)."""
        async with self.db.session() as session:
            rows = (await session.execute(select(Job.state, func.count()).group_by(Job.state))).all()
        counts = dict.fromkeys(JobState, 0)
        counts.update({state: int(n) for state, n in rows})
        return counts

    @operation(Permissions.READ, Access.READ)
    async def get_job(self, actor: Actor, job_id: uuid.UUID) -> JobInfo:
        """One job."""
        async with self.db.session() as session:
            return _info(await get_or_404(session, Job, job_id, "Job"))

    @operation(Permissions.READ, Access.READ)
    async def read_output(self, actor: Actor, job_id: uuid.UUID, *, offset: int = 0) -> str:
        """A job's output from character ``offset`` on (poll with the length you have)."""
        if not 0 <= offset < 2**31 - 1:
            raise ValidationError("The output offset must be 0 or more.", {"offset": "out of range"})
        async with self.db.session() as session:
            stmt = select(func.substr(Job.output, offset + 1)).where(Job.id == job_id)
            value = (await session.execute(stmt)).scalar_one_or_none()
            if value is None:
                raise NotFoundError("Job", job_id)
            return str(value)

    @operation(Permissions.JOBS_MANAGE)
    async def cancel(self, actor: Actor, job_id: uuid.UUID) -> JobInfo:
        """Ask a job to stop. A queued job is cancelled at once; a running one stops soon."""
        async with self.db.unit_of_work() as uow:
            job = await get_or_404(uow.session, Job, job_id, "Job")
            if job.state.finished:
                raise ConflictError(f"Job {job.title or job.kind} has already ended ({job.state.value}).")
            job.cancel_requested = True
            if job.state is JobState.QUEUED:
                job.state, job.finished_at = JobState.CANCELLED, now()
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()
        return await self.get_job(actor, job_id)

    # -- running --------------------------------------------------------------------------
    async def create(
        self,
        actor: Actor,
        kind: str,
        title: str,
        *,
        subject_type: str | None = None,
        subject_id: uuid.UUID | None = None,
        params: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        """Record a queued job (callers have checked the actor's permission)."""
        async with self.db.unit_of_work() as uow:
            job = Job(
                kind=kind, title=title, state=JobState.QUEUED, actor=actor.label, subject_type=subject_type,
                subject_id=subject_id, params=params or {}, engine_id=self.ctx.engine_id,
            )  # fmt: skip
            uow.session.add(job)
            await uow.flush()
            return job.id

    async def run(
        self, job_id: uuid.UUID, work: Callable[[JobHandle], Awaitable[dict[str, Any] | None]]
    ) -> JobInfo:
        """Run ``work`` as the job; its return value becomes the job's result."""
        if not await self._transition(job_id, JobState.QUEUED, JobState.RUNNING, started_at=now()):
            raise ConflictError("This job is not queued any more (it was cancelled or already ran).")
        handle = JobHandle(self, job_id)
        task: asyncio.Task[dict[str, Any] | None] = asyncio.ensure_future(work(handle))
        self._tasks[job_id] = task
        watcher = asyncio.ensure_future(self._watch_cancel(job_id, task))
        try:
            result = await task
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.shield(self._finish(job_id, JobState.CANCELLED, error="Cancelled."))
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise  # our caller is being cancelled (engine shutdown): let it through
        except PodWardenError as exc:
            await self._finish(job_id, JobState.FAILED, error=str(exc))
        except Exception as exc:
            log.exception("job %s failed unexpectedly", job_id)
            await self._finish(
                job_id, JobState.FAILED, error=f"Unexpected error: {exc.__class__.__name__}: {exc}"
            )
        else:
            await self._finish(job_id, JobState.SUCCEEDED, result=result or {})
        finally:
            watcher.cancel()
            self._tasks.pop(job_id, None)
        async with self.db.session() as session:
            return _info(await get_or_404(session, Job, job_id, "Job"))

    async def _watch_cancel(self, job_id: uuid.UUID, task: asyncio.Task[Any], interval: float = 1.0) -> None:
        """Another engine (or desktop) may ask for a cancel through the database."""
        while not task.done():
            await asyncio.sleep(interval)
            try:
                if await self.cancel_requested(job_id):
                    task.cancel()
                    return
            except PodWardenError:
                log.warning("could not check job %s for a cancel request", job_id)

    async def append_output(self, job_id: uuid.UUID, text: str) -> None:
        if not text:
            return
        async with self.db.unit_of_work() as uow:
            await uow.session.execute(update(Job).where(Job.id == job_id).values(output=Job.output + text))
            uow.announce("jobs", [job_id])

    async def cancel_requested(self, job_id: uuid.UUID) -> bool:
        async with self.db.session() as session:
            stmt = select(Job.cancel_requested).where(Job.id == job_id)
            return bool((await session.execute(stmt)).scalar_one_or_none())

    async def mark_interrupted(self, engine_ids: list[uuid.UUID]) -> int:
        """Jobs that dead engines left queued or running become ``interrupted``."""
        if not engine_ids:
            return 0
        async with self.db.unit_of_work() as uow:
            stmt = (
                update(Job)
                .where(Job.engine_id.in_(engine_ids), Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
                .values(
                    state=JobState.INTERRUPTED,
                    finished_at=now(),
                    error="The engine running this job stopped before it finished.",
                )
                .returning(Job.id)
            )
            ids = list((await uow.session.execute(stmt)).scalars())
            uow.announce("jobs", ids)
            return len(ids)

    async def owners_of_unfinished(self) -> list[uuid.UUID]:
        async with self.db.session() as session:
            stmt = (
                select(Job.engine_id)
                .where(Job.state.in_([JobState.QUEUED, JobState.RUNNING]), Job.engine_id.is_not(None))
                .distinct()
            )
            return [e for e in (await session.execute(stmt)).scalars() if e is not None]

    async def cancel_all_local(self) -> None:
        """On engine shutdown: cancel our running jobs and wait for their final state."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals ------------------------------------------------------------------------
    async def _transition(self, job_id: uuid.UUID, old: JobState, new: JobState, **values: Any) -> bool:
        async with self.db.unit_of_work() as uow:
            stmt = (
                update(Job)
                .where(Job.id == job_id, Job.state == old)
                .values(state=new, **values)
                .returning(Job.id)
            )
            changed = (await uow.session.execute(stmt)).scalar_one_or_none() is not None
            if changed:
                uow.announce("jobs", [job_id])
            return changed

    async def _finish(
        self, job_id: uuid.UUID, state: JobState, *, error: str = "", result: dict[str, Any] | None = None
    ) -> None:
        await self._transition(
            job_id, JobState.RUNNING, state, error=error, result=result or {}, finished_at=now()
        )
