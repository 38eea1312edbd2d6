"""Audit rows of API calls, written in groups (group commit) without weakening the promise.

Each authenticated call still waits until *its* row is committed before its response
is sent; but calls that finish while a write is in flight share the next write: one
transaction and one multi-row ``INSERT`` for all of them, instead of a pool checkout,
a transaction and an ORM flush per call. A lone call costs what it did before.

A call whose task is cancelled while it waits leaves its row queued: the writer
still writes it, and :meth:`AuditWriter.close` (the app's shutdown) waits for that.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import insert

from podwarden.engine.db.database import Database
from podwarden.engine.errors import PodWardenError
from podwarden.engine.models.access import AuditEntry
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.base import now

log = logging.getLogger(__name__)

MAX_BATCH: Final = 500


@dataclass
class _Pending:
    row: dict[str, Any]
    done: asyncio.Future[None]


class AuditWriter:
    """Writes the audit rows of one API app; ``await record(...)`` returns once committed."""

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written (for tests and benchmarks)
        self.rows = 0

    async def record(
        self, actor: Actor, *, method: str, path: str, status_code: int, duration_ms: float | None,
        at: datetime | None = None,
    ) -> None:  # fmt: skip
        """Queue one row and wait until it is committed (PodWardenError if it could not be)."""
        row = {
            "at": at or now(),
            "token_id": actor.id if actor.kind == "token" else None,
            "actor": actor.label[:128],
            "method": method[:16],
            "path": path[:512],
            "status_code": status_code,
            "duration_ms": duration_ms,
        }
        pending = _Pending(row, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="podwarden-audit-writer")
        await asyncio.shield(pending.done)

    async def close(self) -> None:
        """Wait until every queued row is written (or failed)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            error: BaseException | None = None
            try:
                async with self.db.unit_of_work() as uow:
                    await uow.session.execute(insert(AuditEntry), [p.row for p in batch])
            except PodWardenError as exc:
                error = exc
            except asyncio.CancelledError:
                error = PodWardenError("The audit entry was not written: the API is stopping.")
                self._settle(batch, error)
                self._settle(self._queue, error)
                self._queue = []
                raise
            except Exception as exc:  # never leave a caller waiting forever
                log.exception("writing %d audit entries failed", len(batch))
                error = PodWardenError(f"The audit entry was not written: {exc.__class__.__name__}.")
            else:
                self.batches += 1
                self.rows += len(batch)
            self._settle(batch, error)

    @staticmethod
    def _settle(batch: list[_Pending], error: BaseException | None) -> None:
        for p in batch:
            if p.done.done():
                continue
            if error is None:
                p.done.set_result(None)
            else:
                p.done.set_exception(error)
                p.done.exception()  # retrieved: a cancelled caller must not log "never retrieved"
