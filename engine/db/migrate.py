"""Schema migrations (Alembic), run at startup inside the running event loop.

Several engines may start against one database at the same moment, so the
migration runs under a PostgreSQL advisory lock: the first engine migrates,
the others wait for the lock and then find nothing to do. A database stamped
with a revision this code does not know was migrated by a newer PodWarden: we
stop with :class:`SchemaTooNewError` and change nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from podwarden.engine.db.database import Database
from podwarden.engine.errors import ConfigurationError, SchemaTooNewError, TemporaryServiceError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# pg_advisory_lock key space: (class, object). 0x5057 = "PW".
LOCK_CLASS = 0x5057
MIGRATION_LOCK = 1

# The newest migration in migrations/versions. Kept here so a start with an
# up-to-date schema needs one SELECT and no Alembic import (≈ 0.4 s);
# tests/integration/test_engine_lifecycle.py checks it against Alembic's head.
SCHEMA_HEAD = "0002"


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def preload_migrations() -> None:
    """Import Alembic and read the migration scripts ahead of need (a warm-up, no I/O to the DB)."""
    head_revision()
    import alembic.command  # noqa: F401


def current_revision(connection: Connection) -> str | None:
    if connection.execute(text("SELECT to_regclass('alembic_version')")).scalar_one() is None:
        return None
    return connection.execute(text("SELECT max(version_num) FROM alembic_version")).scalar_one_or_none()


async def migrate(db: Database, *, lock_timeout: float = 300.0) -> str:
    """Bring the schema to this code's head revision; returns the revision."""
    async with db.connection_errors(), db.engine.connect() as conn:
        if await conn.run_sync(current_revision) == SCHEMA_HEAD:
            await conn.rollback()
            return SCHEMA_HEAD  # the common case: nothing to do, no lock, no Alembic
        await conn.rollback()
        await _acquire(conn, lock_timeout)
        try:
            revision = await conn.run_sync(_upgrade)
            await conn.commit()
            return revision
        finally:
            await conn.execute(
                text("SELECT pg_advisory_unlock(:c, :o)"), {"c": LOCK_CLASS, "o": MIGRATION_LOCK}
            )
            await conn.commit()


async def _acquire(conn: AsyncConnection, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        got = (
            await conn.execute(
                text("SELECT pg_try_advisory_lock(:c, :o)"), {"c": LOCK_CLASS, "o": MIGRATION_LOCK}
            )
        ).scalar_one()
        await conn.commit()
        if got:
            if waited:
                log.info("migration lock acquired after waiting for another engine")
            return
        if time.monotonic() > deadline:
            raise TemporaryServiceError(
                "database",
                f"Another PodWarden engine has been migrating the database for over {timeout:.0f} s; "
                "try again once it has finished.",
            )
        if not waited:
            log.info("another engine is migrating the database; waiting")
            waited = True
        await asyncio.sleep(0.1)


def _upgrade(connection: Connection) -> str:
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    assert head is not None
    current = current_revision(connection)
    if current is not None and current != head:
        known = {rev.revision for rev in script.walk_revisions()}
        if current not in known:
            raise SchemaTooNewError(
                f"The database was upgraded by a newer PodWarden (schema {current}); this version knows "
                f"schemas up to {head}. Install the newer PodWarden; nothing was changed."
            )
    if current == head:
        return head
    log.info("migrating database schema %s -> %s", current or "(empty)", head)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
    return head


async def require_current_schema(db: Database) -> None:
    """For engines told not to migrate: the schema must already be this code's head."""
    async with db.connection_errors(), db.engine.connect() as conn:
        current = await conn.run_sync(current_revision)
    head = SCHEMA_HEAD
    if current != head:
        raise ConfigurationError(
            f"The database schema is {current or 'empty'} but this PodWarden needs {head}; "
            "run `podwarden-engine migrate`."
        )
