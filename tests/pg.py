"""The test suite's PostgreSQL: one server per session, one fresh database per test.

By default the embedded PostgreSQL (the one PodWarden ships) runs in a temp
folder; ``PODWARDEN_TEST_DATABASE_URL`` points the suite at a server instead
(CI runs the suite both ways). Each test gets its own database, cloned from a
migrated template, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid

import psycopg
from sqlalchemy.engine import URL

from podwarden.engine.db.database import Database
from podwarden.engine.db.migrate import migrate
from podwarden.engine.db.urls import libpq_conninfo, parse_database_url

_counter = itertools.count()


class PgTestServer:
    def __init__(self, admin_url: URL) -> None:
        self.admin_url = admin_url
        self.template = f"pw_template_{os.getpid()}"
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(libpq_conninfo(self.admin_url), autocommit=True)

    def prepare_template(self) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.template}"')

        async def run() -> None:
            db = Database(self.url_for(self.template))
            try:
                await migrate(db)
            finally:
                await db.close()

        asyncio.run(run())

    def url_for(self, database: str) -> URL:
        return self.admin_url.set(database=database)

    def new_database(self) -> URL:
        name = f"pw_test_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return self.url_for(name)

    def new_empty_database(self) -> URL:
        name = f"pw_empty_{os.getpid()}_{next(_counter)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url_for(name)

    def drop(self, url: URL) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in [*self.created, self.template]:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configured_url() -> URL | None:
    raw = os.environ.get("PODWARDEN_TEST_DATABASE_URL")
    return parse_database_url(raw) if raw else None
