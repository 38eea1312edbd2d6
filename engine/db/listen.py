"""Dedicated connections: engine presence (an advisory lock) and change notices (LISTEN).

Presence: each engine holds ``pg_advisory_lock(PRESENCE, key(engine_id))`` on
its own connection for as long as it lives. PostgreSQL releases the lock when
the connection dies, so "is engine X alive?" is "is its lock held?", with no
heartbeat table to clean up.

Change notices: :class:`ChangeListener` LISTENs on ``podwarden_changes`` and
hands each notice (table + ids, see database.encode_notices) to subscribers.
It reconnects after the server restarts and then tells subscribers to reload
everything (``ids=None``) since notices may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import psycopg

from podwarden.engine.db.database import CHANGES_CHANNEL

log = logging.getLogger(__name__)

PRESENCE_CLASS = 0x50570001


def presence_key(engine_id: uuid.UUID) -> int:
    """A signed 32-bit key for an engine id (pg_advisory_lock(int, int))."""
    return zlib.crc32(engine_id.bytes) - 2**31


@dataclass(frozen=True)
class Change:
    table: str
    ids: tuple[str, ...] | None  # None: reload everything of this table


async def _connect(conninfo: str, timeout: float) -> psycopg.AsyncConnection[tuple[object, ...]]:
    return await psycopg.AsyncConnection.connect(
        conninfo,
        autocommit=True,
        connect_timeout=max(2, round(timeout)),
        application_name="podwarden-control",
    )


class Presence:
    """Holds this engine's presence lock; checks whether other engines are alive."""

    def __init__(self, conninfo: str, engine_id: uuid.UUID, *, connect_timeout: float) -> None:
        self.conninfo = conninfo
        self.engine_id = engine_id
        self.connect_timeout = connect_timeout
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def start(self) -> None:
        self._conn = await _connect(self.conninfo, self.connect_timeout)
        await self._conn.execute(
            "SELECT pg_advisory_lock(%s, %s)", (PRESENCE_CLASS, presence_key(self.engine_id))
        )

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def dead_engines(self, engine_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """Which of these engines hold no presence lock (so they are gone)."""
        dead: list[uuid.UUID] = []
        async with await _connect(self.conninfo, self.connect_timeout) as conn:
            for engine_id in engine_ids:
                if engine_id == self.engine_id:
                    continue
                key = presence_key(engine_id)
                cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (PRESENCE_CLASS, key))
                row = await cur.fetchone()
                if row is not None and row[0]:
                    dead.append(engine_id)
                    await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (PRESENCE_CLASS, key))
        return dead


Subscriber = Callable[[Change], None]


class ChangeListener:
    """LISTEN for change notices and fan them out to subscribers."""

    def __init__(self, conninfo: str, *, connect_timeout: float, retry_delay: float = 1.0) -> None:
        self.conninfo = conninfo
        self.connect_timeout = connect_timeout
        self.retry_delay = retry_delay
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(change)`` for every notice; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    async def changes(self) -> AsyncIterator[Change]:
        """The notices as an async iterator (until the listener stops)."""
        queue: asyncio.Queue[Change] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="podwarden-change-listener")
        await asyncio.wait_for(self._ready.wait(), timeout=self.connect_timeout + 5)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _emit(self, change: Change) -> None:
        for callback in list(self._subscribers):
            try:
                callback(change)
            except Exception:
                log.exception("a change subscriber failed")

    async def _run(self) -> None:
        first = True
        while True:
            try:
                async with await _connect(self.conninfo, self.connect_timeout) as conn:
                    await conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                    self._ready.set()
                    if not first:
                        log.info("change listener reconnected; asking subscribers to reload")
                        self._emit(Change("*", None))
                    first = False
                    async for notice in conn.notifies():
                        change = decode_notice(notice.payload)
                        if change is not None:
                            self._emit(change)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                log.warning("change listener lost its connection (%s); retrying", exc.__class__.__name__)
                self._ready.set()  # do not hold start() hostage to a down server
                await asyncio.sleep(self.retry_delay)


def decode_notice(payload: str) -> Change | None:
    try:
        data = json.loads(payload)
        ids = data.get("ids")
        return Change(str(data["table"]), None if ids is None else tuple(str(i) for i in ids))
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("ignoring a malformed change notice")
        return None
