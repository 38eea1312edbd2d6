"""No lost updates, and change notices across engines."""

from __future__ import annotations

import asyncio

import pytest

from podwarden.engine import Engine, Settings
from podwarden.engine.db.listen import Change
from podwarden.engine.errors import ConflictError
from podwarden.engine.models import Host, HostSource, HostState
from podwarden.engine.security.rbac import Actor


async def test_two_sessions_editing_one_row(engine: Engine) -> None:
    async with engine.db.unit_of_work() as uow:
        host = Host(hostname="web-1", source=HostSource.MANUAL, state=HostState.DISCOVERED)
        uow.session.add(host)
    host_id = host.id

    with pytest.raises(ConflictError, match="changed this record"):
        async with engine.db.unit_of_work() as mine_uow:
            mine = await mine_uow.session.get(Host, host_id)
            assert mine is not None and mine.version == 1
            async with engine.db.unit_of_work() as theirs_uow:
                theirs = await theirs_uow.session.get(Host, host_id)
                assert theirs is not None
                theirs.notes = "saved first"
            mine.notes = "saved from a stale copy"

    async with engine.db.session() as session:
        fresh = await session.get(Host, host_id)
        assert fresh is not None and fresh.notes == "saved first" and fresh.version == 2


async def test_stale_save_through_a_unit_of_work(engine: Engine) -> None:
    async with engine.db.unit_of_work() as uow:
        host = Host(hostname="db-1", source=HostSource.MANUAL, state=HostState.DISCOVERED)
        uow.session.add(host)

    async def edit(note: str, pause: asyncio.Event, go: asyncio.Event) -> None:
        async with engine.db.unit_of_work() as uow:
            row = await uow.session.get(Host, host.id)
            assert row is not None
            pause.set()
            await go.wait()
            row.notes = note

    a_loaded, b_loaded, go = asyncio.Event(), asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(edit("a", a_loaded, go))
    second = asyncio.create_task(edit("b", b_loaded, go))
    await a_loaded.wait()
    await b_loaded.wait()
    go.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert sum(isinstance(r, ConflictError) for r in results) == 1
    assert sum(r is None for r in results) == 1


async def test_change_notices_reach_another_engine(engine: Engine, settings: Settings, admin: Actor) -> None:
    async with Engine(settings) as desktop:
        seen: list[Change] = []
        got = asyncio.Event()

        def on_change(change: Change) -> None:
            seen.append(change)
            got.set()

        await desktop.subscribe(on_change)
        info = await engine.secrets.create_secret(admin, "hub-key", "v")
        await asyncio.wait_for(got.wait(), 5)
        assert Change("secrets", (str(info.id),)) in seen


async def test_no_notice_for_a_rolled_back_change(engine: Engine, settings: Settings) -> None:
    listener = await engine.listener()
    seen: list[Change] = []
    listener.subscribe(seen.append)
    with pytest.raises(RuntimeError):
        async with engine.db.unit_of_work() as uow:
            uow.session.add(Host(hostname="x", source=HostSource.MANUAL, state=HostState.DISCOVERED))
            await uow.flush()
            raise RuntimeError("abort")
    async with engine.db.unit_of_work() as uow:
        uow.session.add(Host(hostname="y", source=HostSource.MANUAL, state=HostState.DISCOVERED))
    for _ in range(50):
        if seen:
            break
        await asyncio.sleep(0.05)
    assert [c.table for c in seen] == ["hosts"] and len(seen[0].ids or ()) == 1


async def test_a_bulk_commit_sends_one_reload_notice_per_table(engine: Engine) -> None:
    from sqlalchemy import insert

    from podwarden.engine.db.database import BULK_NOTICE_IDS

    listener = await engine.listener()
    seen: list[Change] = []
    listener.subscribe(seen.append)
    rows = [
        {"hostname": f"h{i}", "source": HostSource.MANUAL, "state": HostState.DISCOVERED}
        for i in range(BULK_NOTICE_IDS + 1)
    ]
    async with engine.db.unit_of_work() as uow:
        ids = (await uow.session.execute(insert(Host).returning(Host.id), rows)).scalars().all()
        uow.announce("hosts", ids)
        uow.announce("jobs", ["some-job"])
    for _ in range(100):
        if len(seen) >= 2:
            break
        await asyncio.sleep(0.05)
    assert seen == [Change("hosts", None), Change("jobs", ("some-job",))]


def test_big_changes_are_split_under_the_payload_limit() -> None:
    import json
    import uuid

    from podwarden.engine.db.database import BULK_NOTICE_IDS, encode_notices

    ids = {str(uuid.uuid4()) for _ in range(BULK_NOTICE_IDS)}
    payloads = encode_notices({"hosts": ids})
    assert len(payloads) > 1 and all(len(p.encode()) < 8000 for p in payloads)
    assert {i for p in payloads for i in json.loads(p)["ids"]} == ids


def test_bulk_changes_become_one_reload_notice() -> None:
    import json
    import uuid

    from podwarden.engine.db.database import BULK_NOTICE_IDS, encode_notices

    many = {str(uuid.uuid4()) for _ in range(BULK_NOTICE_IDS + 1)}
    payloads = encode_notices({"hosts": many, "jobs": {"j1"}})
    assert [json.loads(p) for p in payloads] == [
        {"table": "hosts", "ids": None},
        {"table": "jobs", "ids": ["j1"]},
    ]
