"""Tailscale discovery: the real local Tailscale API server, reconciled into a real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from podwarden.engine import Engine, Settings
from podwarden.engine.db.listen import Change
from podwarden.engine.errors import (
    ConfigurationError,
    PermanentServiceError,
    PermissionDenied,
    TemporaryServiceError,
)
from podwarden.engine.models.fleet import Cluster, HostSource, HostState
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.discovery import DiscoveryResult, DiscoveryService
from podwarden.engine.services.hosts import HostsService
from podwarden.engine.settings import Timeouts
from tests.fakes import tailscale_api as fake_module
from tests.fakes.tailscale_api import FAKE_TAILNET, FakeTailscaleAPI, device_ipv4, device_ipv6, make_device

tailscale_api = fake_module.tailscale_api  # the fixture: a running server with 3 devices

STAMP = datetime(2026, 1, 1, tzinfo=UTC)
KEY_SECRET = "tailscale/api-key"
OAUTH_SECRET = "tailscale/oauth-secret"


def node_id(i: int) -> str:
    return f"nFAKE{i:07d}CNTRL"


async def configure(engine: Engine, fake: FakeTailscaleAPI, *, auth: str = "api_key", **extra: Any) -> None:
    admin = Actor.system()
    section: dict[str, Any] = {
        "enabled": True,
        "api_url": fake.base_url,
        "tailnet": FAKE_TAILNET,
        "auth": auth,
    }
    if auth == "api_key":
        await engine.secrets.create_secret(admin, KEY_SECRET, fake.api_key, kind="tailscale")
        section["api_key_secret"] = KEY_SECRET
    else:
        await engine.secrets.create_secret(admin, OAUTH_SECRET, fake.oauth_client_secret, kind="tailscale")
        section["oauth_client_id"] = fake.oauth_client_id
        section["oauth_client_secret_secret"] = OAUTH_SECRET
    section.update(extra)
    await engine.config.update_system_config(admin, {"tailscale": section})


@pytest.fixture
async def discovery(engine: Engine, tailscale_api: FakeTailscaleAPI) -> DiscoveryService:
    await configure(engine, tailscale_api)
    return DiscoveryService(engine.context)


async def snapshot(engine: Engine) -> list[dict[str, Any]]:
    """Every column of every host, in id order: compare before/after to prove nothing moved."""
    async with engine.db.session() as session:
        rows = await session.execute(text("SELECT * FROM hosts ORDER BY id"))
        return [dict(r) for r in rows.mappings().all()]


def by_tailscale_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["tailscale_id"]: r for r in rows if r["tailscale_id"]}


async def add_manual(engine: Engine) -> uuid.UUID:
    hosts = HostsService(engine.context)
    info = await hosts.add_manual_host(Actor.system(), hostname="hand-made.lan", ssh_address="192.168.1.20")
    return info.id


# --- reconciling ---------------------------------------------------------------------


async def test_first_run_adds_every_device(
    engine: Engine, discovery: DiscoveryService, tailscale_api: FakeTailscaleAPI, operator: Actor
) -> None:
    result = await discovery.discover_now(operator)
    assert isinstance(result, DiscoveryResult)
    assert (result.devices, result.added, result.updated, result.missing, result.unchanged) == (3, 3, 0, 0, 0)
    assert result.written == 3
    assert result.duration >= result.fetch_seconds > 0 and result.reconcile_seconds > 0

    rows = by_tailscale_id(await snapshot(engine))
    assert set(rows) == {node_id(0), node_id(1), node_id(2)}
    for i in range(3):
        row, device = rows[node_id(i)], tailscale_api.devices[i]
        assert row["source"] == "tailscale" and row["state"] == "discovered"
        assert row["hostname"] == device["hostname"] == f"node-{i:05d}"
        assert row["tailscale_name"] == device["name"]
        assert row["addresses"] == [device_ipv4(i), device_ipv6(i)]
        assert row["ssh_address"] == device_ipv4(i)
        assert (row["ssh_port"], row["ssh_user"], row["version"]) == (22, "root", 1)
        assert row["tailscale_tags"] == device["tags"]
        assert row["os"] == device["os"]
        if "lastSeen" in device:
            assert row["tailscale_last_seen"] == datetime.fromisoformat(device["lastSeen"])
        else:
            assert row["tailscale_last_seen"] is None
        assert row["facts"] == {} and row["network_types"] == [] and row["notes"] == ""
    assert rows[node_id(0)]["tailscale_tags"] == ["tag:k3s", "tag:server"]
    assert rows[node_id(0)]["tailscale_last_seen"] is not None  # device 0 is offline


async def test_unchanged_rerun_writes_nothing(engine: Engine, discovery: DiscoveryService) -> None:
    await discovery.run_discovery()
    before = await snapshot(engine)
    result = await discovery.run_discovery()
    assert (result.added, result.updated, result.missing, result.unchanged, result.written) == (0, 0, 0, 3, 0)
    assert await snapshot(engine) == before  # versions and updated_at included


async def test_one_percent_changed_writes_exactly_those(
    engine: Engine, discovery: DiscoveryService, tailscale_api: FakeTailscaleAPI
) -> None:
    tailscale_api.set_devices(make_device(i, now=STAMP) for i in range(500))
    first = await discovery.run_discovery()
    assert (first.added, first.unchanged) == (500, 0)
    before = by_tailscale_id(await snapshot(engine))

    seen = (STAMP + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    changes = {
        node_id(3): {"hostname": "renamed-3"},
        node_id(50): {"tags": ["tag:gpu"]},
        node_id(120): {"os": "freebsd"},
        node_id(260): {"lastSeen": seen, "connectedToControl": False},
        node_id(499): {"name": "other.tail1f2e3d.ts.net"},
    }
    for ident, fields in changes.items():
        tailscale_api.update_device(ident, **fields)
    result = await discovery.run_discovery()
    assert (result.added, result.updated, result.missing, result.unchanged) == (0, 5, 0, 495)

    after = by_tailscale_id(await snapshot(engine))
    differing = {k for k in after if after[k] != before[k]}
    assert differing == set(changes)
    for ident in changes:
        assert after[ident]["version"] == before[ident]["version"] + 1
        assert after[ident]["updated_at"] > before[ident]["updated_at"]
        assert after[ident]["id"] == before[ident]["id"]
    assert after[node_id(3)]["hostname"] == "renamed-3"
    assert after[node_id(50)]["tailscale_tags"] == ["tag:gpu"]
    assert after[node_id(120)]["os"] == "freebsd"
    assert after[node_id(260)]["tailscale_last_seen"] == STAMP + timedelta(hours=1)
    assert after[node_id(499)]["tailscale_name"] == "other.tail1f2e3d.ts.net"
    assert (await discovery.run_discovery()).written == 0


async def test_removed_device_goes_missing_and_comes_back(
    engine: Engine, discovery: DiscoveryService, tailscale_api: FakeTailscaleAPI
) -> None:
    await discovery.run_discovery()
    gone = tailscale_api.devices[1]
    tailscale_api.remove_device(node_id(1))
    result = await discovery.run_discovery()
    assert (result.devices, result.updated, result.missing, result.unchanged) == (2, 0, 1, 2)
    rows = by_tailscale_id(await snapshot(engine))
    assert len(rows) == 3  # never deleted
    assert rows[node_id(1)]["state"] == "missing" and rows[node_id(1)]["version"] == 2
    assert (await discovery.run_discovery()).written == 0  # still missing: nothing to write

    tailscale_api.add_device(gone)
    back = await discovery.run_discovery()
    assert (back.added, back.updated, back.missing) == (0, 1, 0)
    row = by_tailscale_id(await snapshot(engine))[node_id(1)]
    assert (row["state"], row["version"]) == ("discovered", 3)
    assert row["id"] == rows[node_id(1)]["id"]


async def test_a_cluster_member_comes_back_in_cluster(
    engine: Engine, discovery: DiscoveryService, tailscale_api: FakeTailscaleAPI
) -> None:
    await discovery.run_discovery()
    async with engine.db.unit_of_work() as uow:
        cluster = Cluster(name="edge")
        uow.session.add(cluster)
        await uow.flush()
        await uow.session.execute(
            text("UPDATE hosts SET cluster_id = :c, state = 'in_cluster' WHERE tailscale_id = :t"),
            {"c": cluster.id, "t": node_id(2)},
        )
    gone = tailscale_api.devices[2]
    tailscale_api.remove_device(node_id(2))
    await discovery.run_discovery()
    assert by_tailscale_id(await snapshot(engine))[node_id(2)]["state"] == "missing"
    tailscale_api.add_device(gone)
    await discovery.run_discovery()
    assert by_tailscale_id(await snapshot(engine))[node_id(2)]["state"] == "in_cluster"


async def test_manual_hosts_are_never_touched(
    engine: Engine, discovery: DiscoveryService, tailscale_api: FakeTailscaleAPI
) -> None:
    manual_id = await add_manual(engine)
    manual_before = [r for r in await snapshot(engine) if r["id"] == manual_id]
    await discovery.run_discovery()
    tailscale_api.set_devices([])  # the whole tailnet disappears
    result = await discovery.run_discovery()
    assert result.missing == 3
    rows = await snapshot(engine)
    assert [r for r in rows if r["id"] == manual_id] == manual_before
    assert {r["state"] for r in rows if r["source"] == "tailscale"} == {"missing"}
    assert manual_before[0]["source"] == HostSource.MANUAL.value


async def test_ssh_address_follows_the_device_unless_an_operator_set_it(
    engine: Engine, discovery: DiscoveryService, tailscale_api: FakeTailscaleAPI, operator: Actor
) -> None:
    await discovery.run_discovery()
    hosts = HostsService(engine.context)
    rows = by_tailscale_id(await snapshot(engine))
    edited = rows[node_id(1)]
    await hosts.update_host(operator, edited["id"], {"ssh_address": "192.168.7.7"}, expected_version=1)
    tailscale_api.update_device(node_id(0), addresses=["100.100.0.9", device_ipv6(0)])
    tailscale_api.update_device(node_id(1), addresses=["100.100.0.10", device_ipv6(1)])
    result = await discovery.run_discovery()
    assert result.updated == 2
    rows = by_tailscale_id(await snapshot(engine))
    assert rows[node_id(0)]["ssh_address"] == "100.100.0.9"  # followed the new Tailscale IPv4
    assert rows[node_id(1)]["ssh_address"] == "192.168.7.7"  # the operator's address is kept
    assert rows[node_id(1)]["addresses"] == ["100.100.0.10", device_ipv6(1)]


async def test_device_edge_cases(
    engine: Engine, discovery: DiscoveryService, tailscale_api: FakeTailscaleAPI
) -> None:
    nameless = make_device(7, now=STAMP)
    nameless.pop("hostname")
    ipv6_only = make_device(8, now=STAMP, addresses=[device_ipv6(8)])
    too_long = make_device(9, now=STAMP, nodeId="n" * 65)
    duplicate = make_device(10, now=STAMP, hostname="first")
    with_nul = make_device(11, now=STAMP, hostname="bad\u0000name", os="li\u0000nux")
    tailscale_api.set_devices(
        [nameless, ipv6_only, too_long, duplicate, {**duplicate, "hostname": "second"}, with_nul]
    )
    result = await discovery.run_discovery()
    assert (result.devices, result.added, result.skipped) == (4, 4, 1)
    rows = by_tailscale_id(await snapshot(engine))
    assert rows[node_id(7)]["hostname"] == "node-00007"  # from the MagicDNS name
    assert rows[node_id(8)]["ssh_address"] == device_ipv6(8)
    assert rows[node_id(10)]["hostname"] == "second"  # the last entry wins
    assert (rows[node_id(11)]["hostname"], rows[node_id(11)]["os"]) == ("badname", "linux")
    assert (await discovery.run_discovery()).written == 0


async def test_changes_are_announced(engine: Engine, discovery: DiscoveryService) -> None:
    seen: list[Change] = []
    got = asyncio.Event()

    def on_change(change: Change) -> None:
        if change.table == "hosts":
            seen.append(change)
            got.set()

    await engine.subscribe(on_change)
    await discovery.run_discovery()
    await asyncio.wait_for(got.wait(), 5)
    ids = {r["id"] for r in await snapshot(engine)}
    announced = {uuid.UUID(i) for c in seen for i in c.ids or ()}
    assert announced == ids


# --- failures leave the hosts as they were -------------------------------------------


def _fail(kind: str, fake: FakeTailscaleAPI) -> None:
    if kind == "malformed":
        fake.malformed_json_next(endpoint="devices")
    elif kind == "wrong-shape":
        fake.wrong_shape_next({"devices": [{"nodeId": 5}]}, endpoint="devices")
    elif kind == "timeout":
        fake.delay_next(3.0, endpoint="devices")
    elif kind == "429":
        fake.fail_next(429, retry_after=7, endpoint="devices")
    else:
        fake.fail_next(int(kind), endpoint="devices")


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("401", PermanentServiceError),
        ("403", PermanentServiceError),
        ("404", PermanentServiceError),
        ("429", TemporaryServiceError),
        ("500", TemporaryServiceError),
        ("503", TemporaryServiceError),
        ("timeout", TemporaryServiceError),
        ("malformed", PermanentServiceError),
        ("wrong-shape", PermanentServiceError),
    ],
)
async def test_api_errors_are_typed_and_change_nothing(
    engine: Engine,
    settings: Settings,
    tailscale_api: FakeTailscaleAPI,
    kind: str,
    error: type[Exception],
) -> None:
    await configure(engine, tailscale_api)
    quick = settings.model_copy(update={"timeouts": Timeouts(http_request=0.5)})
    discovery = DiscoveryService(dataclasses.replace(engine.context, settings=quick))
    await add_manual(engine)
    await discovery.run_discovery()
    # A successful run now would add, update and mark missing:
    tailscale_api.add_device(make_device(3, now=STAMP))
    tailscale_api.update_device(node_id(0), hostname="changed")
    tailscale_api.remove_device(node_id(2))
    before = await snapshot(engine)

    _fail(kind, tailscale_api)
    with pytest.raises(error) as err:
        await discovery.run_discovery()
    assert err.value.service == "tailscale"  # type: ignore[attr-defined]
    assert tailscale_api.api_key not in str(err.value)
    if kind == "429":
        assert err.value.retry_after == 7  # type: ignore[attr-defined]
    assert await snapshot(engine) == before

    result = await discovery.run_discovery()  # and the next good run catches up
    assert (result.added, result.updated, result.missing) == (1, 1, 1)


async def test_oauth_client(engine: Engine, tailscale_api: FakeTailscaleAPI) -> None:
    await configure(engine, tailscale_api, auth="oauth")
    result = await DiscoveryService(engine.context).run_discovery()
    assert result.added == 3
    assert tailscale_api.token_requests == 1
    assert all(r.authorization != f"Bearer {tailscale_api.api_key}" for r in tailscale_api.requests)


async def test_oauth_client_rejected(engine: Engine, tailscale_api: FakeTailscaleAPI) -> None:
    await configure(engine, tailscale_api, auth="oauth", oauth_client_id="kWRONGid")
    with pytest.raises(PermanentServiceError, match="OAuth"):
        await DiscoveryService(engine.context).run_discovery()
    assert await snapshot(engine) == []


# --- configuration and roles ---------------------------------------------------------


async def test_disabled_or_unconfigured_is_a_configuration_error(
    engine: Engine, tailscale_api: FakeTailscaleAPI, admin: Actor
) -> None:
    service = DiscoveryService(engine.context)
    with pytest.raises(ConfigurationError, match="turned off"):
        await service.discover_now(admin)
    await engine.config.update_system_config(
        admin, {"tailscale": {"enabled": True, "api_url": tailscale_api.base_url}}
    )
    with pytest.raises(ConfigurationError, match="API key"):
        await service.discover_now(admin)
    await engine.config.update_system_config(admin, {"tailscale": {"api_key_secret": "tailscale/nope"}})
    with pytest.raises(ConfigurationError, match="tailscale/nope"):
        await service.discover_now(admin)
    await engine.config.update_system_config(admin, {"tailscale": {"auth": "oauth"}})
    with pytest.raises(ConfigurationError, match="OAuth"):
        await service.discover_now(admin)
    assert tailscale_api.request_count == 0
    assert await snapshot(engine) == []


async def test_roles(discovery: DiscoveryService, viewer: Actor, operator: Actor, engine: Engine) -> None:
    with pytest.raises(PermissionDenied):
        await discovery.discover_now(viewer)
    assert await snapshot(engine) == []
    assert (await discovery.discover_now(operator)).added == 3
    hosts = HostsService(engine.context)
    assert (await hosts.count_by_state(viewer))[HostState.DISCOVERED] == 3


async def test_a_bulk_run_leaves_the_search_index_pending_list_empty(
    engine: Engine, discovery: DiscoveryService, tailscale_api: FakeTailscaleAPI
) -> None:
    """GIN keeps fresh entries in a pending list that makes the planner skip the index;
    discovery flushes it after a bulk write (see migration 0002)."""
    from podwarden.engine.services.discovery import FLUSH_INDEX_AFTER

    flush = text("SELECT gin_clean_pending_list(to_regclass('ix_hosts_search_text_trgm'))")
    tailscale_api.set_devices([make_device(i) for i in range(FLUSH_INDEX_AFTER - 1)])
    await discovery.run_discovery()  # below the threshold: left to autovacuum
    async with engine.db.session() as session:
        assert (await session.execute(flush)).scalar_one() > 0
        await session.commit()
    tailscale_api.set_devices([make_device(i) for i in range(FLUSH_INDEX_AFTER - 1, 3 * FLUSH_INDEX_AFTER)])
    result = await discovery.run_discovery()
    assert result.added == 2 * FLUSH_INDEX_AFTER + 1
    async with engine.db.session() as session:
        assert (await session.execute(flush)).scalar_one() == 0  # nothing left to move
