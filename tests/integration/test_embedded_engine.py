"""The engine on its default, embedded database; and shared mode across a server restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from podwarden.engine import Engine, Settings
from podwarden.engine.db.embedded import EmbeddedPostgres
from podwarden.engine.db.listen import Change
from podwarden.engine.security.rbac import Actor
from tests.conftest import TEST_KEY


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Outside pytest's tmp folder: another pytest run resets that to mode 0700, and as
    # root the server runs as its own user, which must reach the data folder.
    folder = Path(tempfile.mkdtemp(prefix="podwarden-engine-test-"))
    os.chmod(folder, 0o755)
    yield folder / "podwarden"
    shutil.rmtree(folder, ignore_errors=True)


async def test_embedded_database_persists_across_runs(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, secret_key=TEST_KEY)
    async with Engine(settings) as engine:
        assert engine.database_mode == f"embedded ({data_dir})"
        await engine.users.create_first_admin("alice", "correct horse")
        await engine.secrets.create_secret(Actor.system(), "hub-key", "pwc_123")
    async with Engine(settings) as engine:
        assert await engine.users.has_users()
        assert (await engine.secrets.read_secret(Actor.system(), "hub-key")).reveal() == "pwc_123"


async def test_two_engines_share_one_embedded_server(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, secret_key=TEST_KEY)
    async with Engine(settings) as first, Engine(settings) as second:
        await first.users.create_first_admin("alice", "correct horse")
        assert await second.users.has_users()


async def test_shared_mode_survives_a_server_restart(data_dir: Path) -> None:
    server = EmbeddedPostgres(data_dir)
    url = await server.start()
    try:
        settings = Settings(database_url=url, data_dir=data_dir / "client", secret_key=TEST_KEY)
        async with Engine(settings) as engine:
            seen: list[Change] = []
            listener = await engine.listener()
            listener.retry_delay = 0.2
            listener.subscribe(seen.append)
            await engine.secrets.create_secret(Actor.system(), "before", "1")

            await server.stop()  # the server goes away under the engine
            await server.start()

            # The pool's pre-ping replaces dead connections: the next operation works.
            await engine.secrets.create_secret(Actor.system(), "after", "2")
            assert [s.name for s in await engine.secrets.list_secrets(Actor.system())] == ["after", "before"]
            # The listener reconnected and told subscribers to reload everything.
            for _ in range(100):
                if Change("*", None) in seen:
                    break
                await asyncio.sleep(0.05)
            assert Change("*", None) in seen
    finally:
        await server.stop()
