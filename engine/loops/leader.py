"""Leader election for the periodic loops: one PostgreSQL advisory lock per loop.

Each engine keeps ONE dedicated connection (:class:`LeaderLock`) for the loops it
leads. Leading loop ``name`` means holding the session-level advisory lock
``(LOOPS_CLASS, loop_key(name))`` on that connection; a follower tries
``pg_try_advisory_lock`` at every interval and runs nothing while it fails.

PostgreSQL releases session locks when their connection ends, so a leader that
dies (process killed, connection cut, engine closed) frees its loops, and the
next follower to try — within one interval — becomes the leader. Before each
tick the leader checks its connection (``SELECT 1``); when that fails it drops
every lock it thought it held and competes again like a follower.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from typing import Final

import psycopg

log = logging.getLogger(__name__)

LOOPS_CLASS: Final = 0x50570010  # pg_advisory_lock(int, int) class (see db/listen.py PRESENCE_CLASS)
#: Every server engine holds this key SHARED on its lock connection while it runs loops;
#: standby engines (desktops in "auto") see it in pg_locks and leave the loops to it.
SERVER_KEY: Final = 1
_SERVERS_PRESENT = """
SELECT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = %s::bigint::oid AND objid = %s::bigint::oid
)
"""


def loop_key(name: str) -> int:
    """A signed 32-bit key for a loop name."""
    return zlib.crc32(name.encode()) - 2**31


class LeaderLock:
    """The advisory locks this engine holds for its loops, on one dedicated connection."""

    def __init__(
        self, conninfo: str, engine_id: uuid.UUID, *, connect_timeout: float, server: bool = False
    ) -> None:
        self.conninfo = conninfo
        self.engine_id = engine_id
        self.connect_timeout = connect_timeout
        self.server = server  # announce "a server engine runs loops" (SERVER_KEY, shared)
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._held: set[str] = set()
        self._lock = asyncio.Lock()

    @property
    def application_name(self) -> str:
        """How the lock connection shows in ``pg_stat_activity``."""
        return f"podwarden-loops {self.engine_id}"

    @property
    def leading(self) -> frozenset[str]:
        """The loops this engine believes it leads (checked again before each tick)."""
        return frozenset(self._held)

    async def backend_pid(self) -> int | None:
        """The server process of the lock connection (None when not connected)."""
        async with self._lock:
            return None if self._conn is None or self._conn.closed else self._conn.info.backend_pid

    async def try_lead(self, name: str) -> bool:
        """Whether this engine leads ``name`` now: keeps a held lock (after checking
        the connection is alive) or tries to take a free one. Raises
        ``psycopg.Error`` / ``OSError`` / ``TimeoutError`` when the database
        cannot be reached; the caller treats that as "not leading"."""
        async with self._lock:
            try:
                conn = await self._connection()
                if name in self._held:
                    await asyncio.wait_for(conn.execute("SELECT 1"), self.connect_timeout)
                    return True
                cur = await asyncio.wait_for(
                    conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOOPS_CLASS, loop_key(name))),
                    self.connect_timeout,
                )
                row = await cur.fetchone()
            except (psycopg.Error, OSError, TimeoutError):
                await self._drop_connection()
                raise
            if row is not None and row[0] is True:
                self._held.add(name)
                log.info("engine %s now leads loop %s", self.engine_id, name)
                return True
            return False

    async def servers_present(self) -> bool:
        """Whether a server engine (``server=True``) other than this one runs loops now.
        Raises like :meth:`try_lead` when the database cannot be reached."""
        async with self._lock:
            try:
                conn = await self._connection()
                cur = await asyncio.wait_for(
                    conn.execute(_SERVERS_PRESENT, (LOOPS_CLASS, SERVER_KEY)), self.connect_timeout
                )
                row = await cur.fetchone()
            except (psycopg.Error, OSError, TimeoutError):
                await self._drop_connection()
                raise
            return bool(row and row[0]) and not self.server

    async def release(self, name: str) -> None:
        """Stop leading ``name`` (another engine may take it at its next try)."""
        async with self._lock:
            if name not in self._held:
                return
            self._held.discard(name)
            if self._conn is not None and not self._conn.closed:
                try:
                    await asyncio.wait_for(
                        self._conn.execute(
                            "SELECT pg_advisory_unlock(%s, %s)", (LOOPS_CLASS, loop_key(name))
                        ),
                        self.connect_timeout,
                    )
                except (psycopg.Error, OSError, TimeoutError):
                    await self._drop_connection()

    async def close(self) -> None:
        """Close the connection; PostgreSQL releases every lock it held."""
        async with self._lock:
            self._held.clear()
            await self._drop_connection()

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._held.clear()  # a new connection holds nothing
            conn = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=max(2, round(self.connect_timeout)),
                    application_name=self.application_name,
                ),
                self.connect_timeout + 5,
            )
            if self.server:
                await asyncio.wait_for(
                    conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (LOOPS_CLASS, SERVER_KEY)),
                    self.connect_timeout,
                )
            self._conn = conn
            return conn
        return self._conn

    async def _drop_connection(self) -> None:
        if self._held:
            log.warning("engine %s lost its loop locks (%s)", self.engine_id, ", ".join(sorted(self._held)))
        self._held.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except (psycopg.Error, OSError):
                log.debug("closing the loop lock connection failed", exc_info=True)
