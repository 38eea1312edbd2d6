"""Shared fixtures: a real PostgreSQL for the session, a fresh database and engine per test."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from podwarden.engine import Engine, Settings
from podwarden.engine.db.urls import parse_database_url
from podwarden.engine.models.access import Role
from podwarden.engine.security.rbac import Actor
from tests.pg import PgTestServer, configured_url

# The tests never touch the developer's keyring or data folder.
os.environ.pop("PODWARDEN_DATABASE_URL", None)
os.environ.pop("PODWARDEN_SECRET_KEY", None)
os.environ.pop("PODWARDEN_SECRET_KEY_FILE", None)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TEST_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgTestServer]:
    url = configured_url()
    folder: str | None = None
    embedded = None
    if url is None:
        from podwarden.engine.db.embedded import EmbeddedPostgres

        folder = tempfile.mkdtemp(prefix="podwarden-test-pg-")
        os.chmod(folder, 0o755)
        embedded = EmbeddedPostgres(Path(folder))
        url = parse_database_url(asyncio.run(embedded.start()))
    server = PgTestServer(url)
    server.prepare_template()
    try:
        yield server
    finally:
        server.drop_all()
        if embedded is not None:
            asyncio.run(embedded.stop())
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database_url(pg_server: PgTestServer) -> Iterator[URL]:
    url = pg_server.new_database()
    yield url
    pg_server.drop(url)


@pytest.fixture
def settings(database_url: URL, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url.render_as_string(hide_password=False),
        data_dir=tmp_path / "data",
        secret_key=TEST_KEY,
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with Engine(settings) as eng:
        yield eng


@pytest.fixture
def admin() -> Actor:
    return Actor(kind="user", name="root-admin", role=Role.ADMIN)


@pytest.fixture
def operator() -> Actor:
    return Actor(kind="user", name="ops", role=Role.OPERATOR)


@pytest.fixture
def viewer() -> Actor:
    return Actor(kind="user", name="watcher", role=Role.VIEWER)
