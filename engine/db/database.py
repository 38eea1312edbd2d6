"""The database handle: async engine, sessions and the unit of work.

One :class:`Database` per engine. Connections come from a pool with pre-ping,
so after a PostgreSQL restart the next operation reconnects by itself. Every
write goes through :meth:`Database.unit_of_work`, which

- turns a stale ``version`` (someone saved first) into :class:`ConflictError`,
- turns unique/foreign-key violations into readable errors, and
- announces what changed with ``NOTIFY podwarden_changes`` in the same
  transaction, so listeners hear about it exactly when it commits.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from podwarden.engine.db.urls import describe_url
from podwarden.engine.errors import ConflictError, PodWardenError, TemporaryServiceError, ValidationError
from podwarden.engine.models.base import Base

log = logging.getLogger(__name__)

CHANGES_CHANNEL = "podwarden_changes"
_NOTIFY_LIMIT = 7000  # PostgreSQL caps a payload at 8000 bytes
#: More changed ids than this in one table and one commit: one "reload it all" notice
#: instead of the list (a 10,000-host discovery would otherwise send ~60 payloads that
#: every listener decodes just to reload its table anyway).
BULK_NOTICE_IDS = 500
_CHANGES_KEY = "podwarden_changes"


class Database:
    """Owns the SQLAlchemy async engine for one PostgreSQL database."""

    def __init__(
        self,
        url: URL,
        *,
        connect_timeout: float = 10.0,
        statement_timeout: float = 60.0,
        pool_size: int = 5,
        max_overflow: int = 5,
    ) -> None:
        self.url = url
        self.description = describe_url(url)
        self.connect_timeout = connect_timeout
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=connect_timeout,
            connect_args={
                "connect_timeout": max(2, round(connect_timeout)),
                "options": f"-c statement_timeout={int(statement_timeout * 1000)}",
                "application_name": "podwarden",
            },
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        """Round-trip to the server; raises TemporaryServiceError when it is down."""
        async with self.connection_errors(), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def server_version(self) -> int:
        async with self.connection_errors(), self.engine.connect() as conn:
            value = (await conn.execute(text("SHOW server_version_num"))).scalar_one()
        return int(value)

    @asynccontextmanager
    async def connection_errors(self) -> AsyncIterator[None]:
        """Translate 'cannot reach the server' into one readable, temporary error."""
        try:
            yield
        except (OperationalError, OSError, TimeoutError) as exc:
            if isinstance(exc, DBAPIError) and not exc.connection_invalidated and _is_query_error(exc):
                raise
            raise TemporaryServiceError(
                "database",
                f"Cannot reach PostgreSQL at {self.description}: {_first_line(exc)}. "
                "Check that the server is running and the URL is right.",
            ) from exc

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session (no commit)."""
        async with self.connection_errors(), self.sessions() as session:
            yield session

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """One transaction. Commits on success, rolls back on any exception."""
        async with self.connection_errors(), self.sessions() as session:
            uow = UnitOfWork(session)
            try:
                yield uow
                await uow.flush()
                await uow.send_notices()
                await session.commit()
            except StaleDataError as exc:
                await session.rollback()
                raise ConflictError(
                    "Someone else changed this record after you loaded it; reload and try again."
                ) from exc
            except IntegrityError as exc:
                await session.rollback()
                raise _integrity_error(exc) from exc
            except BaseException:
                await session.rollback()
                raise


class UnitOfWork:
    """A session plus the change notices its commit will send."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._explicit: dict[str, set[str]] = defaultdict(set)
        self._whole: set[str] = set()  # tables announced in bulk

    def announce(self, table: str, ids: Iterable[object]) -> None:
        """Record changes made with Core statements (bulk upserts) the ORM cannot see."""
        listed = ids if isinstance(ids, list | tuple | set) else list(ids)
        if len(listed) > BULK_NOTICE_IDS:
            self._whole.add(table)  # one "reload it all" notice: no need to stringify 10,000 ids
        elif table not in self._whole:
            self._explicit[table].update(str(i) for i in listed)

    async def flush(self) -> None:
        await self.session.flush()

    async def send_notices(self) -> None:
        changes: dict[str, set[str]] = defaultdict(set)
        for table, ids in self.session.info.pop(_CHANGES_KEY, {}).items():
            changes[table].update(ids)
        for table, ids in self._explicit.items():
            changes[table].update(ids)
        self._explicit.clear()
        whole, self._whole = self._whole, set()
        payloads = encode_notices(changes, whole=whole)
        if payloads:  # one round trip for all of them
            await self.session.execute(select(*(func.pg_notify(CHANGES_CHANNEL, p) for p in payloads)))


def encode_notices(changes: dict[str, set[str]], *, whole: Iterable[str] = ()) -> list[str]:
    """Split changes into NOTIFY payloads under PostgreSQL's size limit.

    Each payload is ``{"table": name, "ids": [...]}``; a table in ``whole``, with no
    ids or with more than :data:`BULK_NOTICE_IDS` is sent as
    ``{"table": name, "ids": null}``, meaning "reload it all".
    """
    payloads: list[str] = []
    bulk = set(whole)
    for table in sorted(bulk | set(changes)):
        ids = [] if table in bulk else sorted(changes[table])
        if len(ids) > BULK_NOTICE_IDS:
            ids = []
        chunk: list[str] = []
        size = 0
        for ident in ids:
            if size + len(ident) + 4 > _NOTIFY_LIMIT:
                payloads.append(json.dumps({"table": table, "ids": chunk}))
                chunk, size = [], 0
            chunk.append(ident)
            size += len(ident) + 4
        if chunk or not ids:
            payloads.append(json.dumps({"table": table, "ids": chunk or None}))
    return payloads


@event.listens_for(Session, "after_flush")
def _collect_changes(session: Session, _context: Any) -> None:
    changes: dict[str, set[str]] = session.info.setdefault(_CHANGES_KEY, defaultdict(set))
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, Base) or not getattr(obj, "__notify__", True):
            continue
        ident = getattr(obj, "id", None) or getattr(obj, "key", None)
        if isinstance(ident, uuid.UUID | str | int):
            changes[obj.__tablename__].add(str(ident))


def _integrity_error(exc: IntegrityError) -> PodWardenError:
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or ""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == "23505":  # unique_violation
        field = constraint.split("_", 2)[-1] if constraint.startswith("uq_") else constraint
        return ConflictError(f"That name is already taken ({field}).")
    if sqlstate == "23503":  # foreign_key_violation
        return ValidationError("A referenced record does not exist (or is still in use).")
    return ValidationError(f"The data breaks a database rule: {_first_line(exc.orig or exc)}.")


def _is_query_error(exc: DBAPIError) -> bool:
    """An OperationalError that is about the query (e.g. statement timeout), not the link."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return bool(sqlstate) and not str(sqlstate).startswith(("08", "57P"))


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__
