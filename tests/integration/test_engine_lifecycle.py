"""Opening and closing the engine on a real PostgreSQL: migrations, bad configuration."""

from __future__ import annotations

import asyncio
import base64
import socket
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from podwarden.engine import Engine, Settings
from podwarden.engine.db.migrate import head_revision
from podwarden.engine.db.urls import libpq_conninfo
from podwarden.engine.errors import ConfigurationError, SchemaTooNewError, TemporaryServiceError
from podwarden.engine.models import Base
from tests.conftest import TEST_KEY
from tests.pg import PgTestServer


def _settings(url: URL, tmp_path, **kw: object) -> Settings:
    return Settings(
        database_url=url.render_as_string(hide_password=False),
        data_dir=tmp_path,
        secret_key=kw.pop("secret_key", TEST_KEY),
        **kw,
    )


def _tables(url: URL) -> set[str]:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


async def test_engine_migrates_an_empty_database_and_closes(pg_server: PgTestServer, tmp_path) -> None:
    url = pg_server.new_empty_database()
    async with Engine(_settings(url, tmp_path)) as engine:
        assert engine.database_mode.startswith("shared postgresql://")
        async with engine.db.session() as session:
            revision = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert revision == head_revision()
    assert set(Base.metadata.tables) | {"alembic_version"} == _tables(url)


async def test_two_engines_starting_together_migrate_once(pg_server: PgTestServer, tmp_path) -> None:
    url = pg_server.new_empty_database()
    engines = [Engine(_settings(url, tmp_path / str(i))) for i in range(3)]
    await asyncio.gather(*(e.open() for e in engines))
    try:
        with psycopg.connect(libpq_conninfo(url)) as conn:
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    finally:
        await asyncio.gather(*(e.close() for e in engines))


async def test_models_and_migrations_agree(database_url: URL) -> None:
    """A model change without a migration fails here (autogenerate finds a difference)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    eng = create_engine(database_url)
    try:
        with eng.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
    finally:
        eng.dispose()
    assert diff == []


async def test_database_newer_than_code_is_refused_unchanged(database_url: URL, tmp_path) -> None:
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    before = _tables(database_url)
    with pytest.raises(SchemaTooNewError, match="newer PodWarden"):
        async with Engine(_settings(database_url, tmp_path)):
            pass
    assert _tables(database_url) == before
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("9999_future",)


async def test_no_migrate_mode_needs_a_current_schema(pg_server: PgTestServer, tmp_path) -> None:
    url = pg_server.new_empty_database()
    with pytest.raises(ConfigurationError, match="podwarden-engine migrate"):
        async with Engine(_settings(url, tmp_path, run_migrations=False)):
            pass


async def test_wrong_secret_key_is_a_clear_error(database_url: URL, tmp_path) -> None:
    async with Engine(_settings(database_url, tmp_path)) as engine:
        await engine.secrets.create_secret(_admin(), "tailscale-api-key", "tskey-abc")
    other = base64.urlsafe_b64encode(b"x" * 32).decode()
    with pytest.raises(ConfigurationError, match="does not match"):
        async with Engine(_settings(database_url, tmp_path, secret_key=other)):
            pass


async def test_malformed_secret_key_is_a_clear_error(database_url: URL, tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="not 32 bytes"):
        async with Engine(_settings(database_url, tmp_path, secret_key="short")):
            pass


async def test_invalid_database_url(tmp_path) -> None:
    for bad in ["not a url", "mysql://u@h/db", "postgresql://u@h"]:
        with pytest.raises(ConfigurationError):
            async with Engine(Settings(database_url=bad, data_dir=tmp_path, secret_key=TEST_KEY)):
                pass


async def test_unreachable_server_fails_after_its_timeout(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    settings = Settings(
        database_url=f"postgresql://podwarden@127.0.0.1:{port}/podwarden",
        data_dir=tmp_path,
        secret_key=TEST_KEY,
        timeouts={"db_connect": 2},
    )
    started = time.monotonic()
    with pytest.raises(TemporaryServiceError, match=f"Cannot reach PostgreSQL at .*127.0.0.1:{port}"):
        async with Engine(settings):
            pass
    assert time.monotonic() - started < 30  # it gave up, it did not hang


async def test_statement_errors_are_not_reported_as_unreachable(engine: Engine) -> None:
    from sqlalchemy.exc import ProgrammingError

    with pytest.raises(ProgrammingError):
        async with engine.db.session() as session:
            await session.execute(text("SELECT * FROM no_such_table"))


def _admin():
    from podwarden.engine.security.rbac import Actor

    return Actor.system()


def test_schema_head_constant_matches_the_migrations() -> None:
    from podwarden.engine.db.migrate import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD, "update SCHEMA_HEAD in engine/db/migrate.py"
