"""HostsService against a real PostgreSQL: manual hosts, keys as secrets, edits, deletes, paging."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncssh
import pytest
from sqlalchemy import select, text

from podwarden.engine import Engine
from podwarden.engine.errors import (
    ConflictError,
    NotFoundError,
    PermissionDenied,
    ProtectedResourceError,
    ValidationError,
)
from podwarden.engine.models.access import Secret
from podwarden.engine.models.fleet import Cluster, Host, HostSource, HostState
from podwarden.engine.security.crypto import SecretValue
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.hosts import SORT_COLUMNS, HostInfo, HostsService, ssh_key_secret_name


@pytest.fixture
def hosts(engine: Engine) -> HostsService:
    return HostsService(engine.context)


@pytest.fixture(scope="module")
def ed25519_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()


async def secret_rows(engine: Engine) -> list[tuple[str, str, bytes]]:
    async with engine.db.session() as session:
        rows = await session.execute(
            select(Secret.name, Secret.kind, Secret.ciphertext).order_by(Secret.name)
        )
        return [(name, kind, ciphertext) for name, kind, ciphertext in rows.all()]


async def host_count(engine: Engine) -> int:
    async with engine.db.session() as session:
        return int((await session.execute(text("SELECT count(*) FROM hosts"))).scalar_one())


# --- adding ------------------------------------------------------------------------


async def test_add_by_ip_uses_the_ssh_agent_by_default(hosts: HostsService, operator: Actor) -> None:
    host = await hosts.add_manual_host(operator, hostname=" 192.0.2.10 ", notes="rack 3")
    assert isinstance(host, HostInfo)
    assert host.hostname == "192.0.2.10" and host.ssh_address == "192.0.2.10"
    assert host.addresses == ("192.0.2.10",)
    assert (host.source, host.state) == (HostSource.MANUAL, HostState.DISCOVERED)
    assert (host.ssh_port, host.ssh_user) == (22, "root")
    assert host.ssh_key_secret is None and host.uses_ssh_agent
    assert host.notes == "rack 3" and host.version == 1
    assert await hosts.get_host(operator, host.id) == host


async def test_add_by_name_with_own_address_port_and_user(hosts: HostsService, operator: Actor) -> None:
    host = await hosts.add_manual_host(
        operator,
        hostname="gpu-box.lab.example",
        ssh_address="[2001:db8::7]",
        ssh_port=2222,
        ssh_user="deploy",
    )
    assert host.hostname == "gpu-box.lab.example"
    assert host.ssh_address == "2001:db8::7"
    assert host.addresses == ()
    assert (host.ssh_port, host.ssh_user) == (2222, "deploy")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hostname": ""}, "hostname"),
        ({"hostname": "bad host"}, "hostname"),
        ({"hostname": "-leading-dash.example"}, "hostname"),
        ({"hostname": "300.1.1.1"}, "hostname"),
        ({"hostname": "a" * 64 + ".example"}, "hostname"),
        ({"hostname": "ok.example\n"}, None),  # surrounding whitespace is trimmed: valid
        ({"hostname": "h.example", "ssh_address": "nope nope"}, "ssh_address"),
        ({"hostname": "h.example", "ssh_port": 0}, "ssh_port"),
        ({"hostname": "h.example", "ssh_port": 65536}, "ssh_port"),
        ({"hostname": "h.example", "ssh_port": True}, "ssh_port"),
        ({"hostname": "h.example", "ssh_port": "22"}, "ssh_port"),
        ({"hostname": "h.example", "ssh_user": ""}, "ssh_user"),
        ({"hostname": "h.example", "ssh_user": "-oProxyCommand=x"}, "ssh_user"),
        ({"hostname": "h.example", "ssh_user": "root\n"}, "ssh_user"),
        ({"hostname": "h.example", "ssh_user": "u" * 33}, "ssh_user"),
        ({"hostname": "h.example", "notes": "x" * 10_001}, "notes"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_saved(
    engine: Engine, hosts: HostsService, operator: Actor, kwargs: dict[str, Any], field: str | None
) -> None:
    if field is None:
        assert (await hosts.add_manual_host(operator, **kwargs)).hostname == "ok.example"
        return
    with pytest.raises(ValidationError) as err:
        await hosts.add_manual_host(operator, **kwargs)
    assert field in err.value.errors
    assert str(err.value).endswith(".")
    assert await host_count(engine) == 0


async def test_same_address_and_port_twice_is_a_conflict(hosts: HostsService, operator: Actor) -> None:
    await hosts.add_manual_host(operator, hostname="a.example", ssh_address="10.0.0.5")
    with pytest.raises(ConflictError, match=r"a\.example"):
        await hosts.add_manual_host(operator, hostname="b.example", ssh_address="10.0.0.5")
    other_port = await hosts.add_manual_host(
        operator, hostname="b.example", ssh_address="10.0.0.5", ssh_port=2200
    )
    assert other_port.ssh_port == 2200


# --- SSH keys ----------------------------------------------------------------------


async def test_key_is_stored_encrypted_in_the_same_unit_of_work(
    engine: Engine, hosts: HostsService, operator: Actor, admin: Actor, ed25519_key: str
) -> None:
    host = await hosts.add_manual_host(
        operator, hostname="keyed.example", ssh_private_key=SecretValue(ed25519_key)
    )
    assert host.ssh_key_secret == ssh_key_secret_name(host.id) == f"host/{host.id}/ssh-key"
    assert not host.uses_ssh_agent
    [(name, kind, ciphertext)] = await secret_rows(engine)
    assert (name, kind) == (host.ssh_key_secret, "ssh-key")
    body = "".join(ed25519_key.splitlines()[1:-1]).encode()
    assert body[:40] not in ciphertext and b"OPENSSH" not in ciphertext
    revealed = await engine.secrets.read_secret(admin, name)
    assert revealed.reveal().strip() == ed25519_key.strip()
    asyncssh.import_private_key(revealed.reveal())  # still a usable key
    assert ed25519_key not in repr(host) and "OPENSSH" not in repr(host)


@pytest.mark.parametrize(
    "bad_key",
    ["not a key at all", "PUBLIC", "TRUNCATED", "ENCRYPTED", ""],
)
async def test_an_unreadable_key_is_refused_without_echoing_it(
    engine: Engine, hosts: HostsService, operator: Actor, ed25519_key: str, bad_key: str
) -> None:
    private = asyncssh.generate_private_key("ssh-ed25519")
    key = {
        "PUBLIC": private.export_public_key().decode(),
        "TRUNCATED": ed25519_key[: len(ed25519_key) // 2],
        "ENCRYPTED": private.export_private_key("pkcs8-pem", passphrase="pw").decode(),
    }.get(bad_key, bad_key)
    with pytest.raises(ValidationError) as err:
        await hosts.add_manual_host(operator, hostname="k.example", ssh_private_key=key)
    message = str(err.value)
    assert "ssh_private_key" in err.value.errors
    assert err.value.__cause__ is None  # nothing about the key's content is chained
    assert err.value.__context__ is None or err.value.__suppress_context__
    for line in key.splitlines():
        if len(line) > 8:
            assert line not in message
    if bad_key == "ENCRYPTED":
        assert "passphrase" in message
    assert await host_count(engine) == 0
    assert await secret_rows(engine) == []


async def test_replace_and_remove_a_key(
    engine: Engine, hosts: HostsService, operator: Actor, admin: Actor, ed25519_key: str
) -> None:
    host = await hosts.add_manual_host(operator, hostname="rotate.example")
    other = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    host = await hosts.update_host(
        operator, host.id, {"ssh_private_key": ed25519_key}, expected_version=host.version
    )
    assert host.ssh_key_secret == ssh_key_secret_name(host.id) and host.version == 2
    host = await hosts.update_host(operator, host.id, {"ssh_private_key": other}, expected_version=2)
    assert host.version == 3
    assert (
        await engine.secrets.read_secret(admin, ssh_key_secret_name(host.id))
    ).reveal().strip() == other.strip()
    assert len(await secret_rows(engine)) == 1
    host = await hosts.update_host(operator, host.id, {"ssh_private_key": None}, expected_version=3)
    assert host.uses_ssh_agent and host.version == 4
    assert await secret_rows(engine) == []


# --- editing -----------------------------------------------------------------------


async def test_update_checks_the_version(hosts: HostsService, operator: Actor) -> None:
    host = await hosts.add_manual_host(operator, hostname="edit.example")
    first = await hosts.update_host(operator, host.id, {"notes": "one", "ssh_port": 2022}, expected_version=1)
    assert (first.notes, first.ssh_port, first.version) == ("one", 2022, 2)
    with pytest.raises(ConflictError, match="version 2"):
        await hosts.update_host(operator, host.id, {"notes": "stale"}, expected_version=1)
    assert (await hosts.get_host(operator, host.id)).notes == "one"


async def test_renaming_moves_an_address_that_was_the_name(hosts: HostsService, operator: Actor) -> None:
    by_name = await hosts.add_manual_host(operator, hostname="10.3.3.3")
    moved = await hosts.update_host(operator, by_name.id, {"hostname": "10.3.3.4"}, expected_version=1)
    assert (moved.hostname, moved.ssh_address, moved.addresses) == ("10.3.3.4", "10.3.3.4", ("10.3.3.4",))
    own = await hosts.add_manual_host(operator, hostname="db.example", ssh_address="10.3.3.9")
    renamed = await hosts.update_host(operator, own.id, {"hostname": "db2.example"}, expected_version=1)
    assert (renamed.hostname, renamed.ssh_address) == ("db2.example", "10.3.3.9")


async def test_update_refuses_unknown_fields_and_bad_values(hosts: HostsService, operator: Actor) -> None:
    host = await hosts.add_manual_host(operator, hostname="strict.example")
    with pytest.raises(ValidationError) as err:
        await hosts.update_host(
            operator, host.id, {"state": "in_cluster", "protected": False}, expected_version=1
        )
    assert set(err.value.errors) == {"state", "protected"}
    with pytest.raises(ValidationError):
        await hosts.update_host(operator, host.id, {"ssh_port": -1}, expected_version=1)
    with pytest.raises(ValidationError):
        await hosts.update_host(operator, host.id, {"is_gateway": "yes"}, expected_version=1)
    with pytest.raises(NotFoundError):
        await hosts.update_host(operator, uuid.uuid4(), {"notes": "x"}, expected_version=1)
    assert (await hosts.get_host(operator, host.id)).version == 1


async def test_rename_and_gateway_rules(engine: Engine, hosts: HostsService, operator: Actor) -> None:
    manual = await hosts.add_manual_host(operator, hostname="old.example", ssh_address="10.1.1.1")
    renamed = await hosts.update_host(operator, manual.id, {"hostname": "10.2.2.2"}, expected_version=1)
    assert renamed.hostname == "10.2.2.2" and renamed.addresses == ("10.2.2.2",)
    with pytest.raises(ValidationError, match="public address"):
        await hosts.update_host(operator, manual.id, {"is_gateway": True}, expected_version=2)
    gateway = await hosts.update_host(
        operator, manual.id, {"is_gateway": True, "ssh_address": "1.2.3.4"}, expected_version=2
    )
    assert gateway.is_gateway

    ts_id = await insert_host(engine, hostname="ts-node", source=HostSource.TAILSCALE, tailscale_id="nX1")
    with pytest.raises(ValidationError, match="Tailscale"):
        await hosts.update_host(operator, ts_id, {"hostname": "mine"}, expected_version=1)
    edited = await hosts.update_host(
        operator, ts_id, {"ssh_address": "10.9.9.9", "notes": "lan"}, expected_version=1
    )
    assert (edited.hostname, edited.ssh_address) == ("ts-node", "10.9.9.9")
    with pytest.raises(ConflictError):
        await hosts.update_host(operator, ts_id, {"ssh_address": "1.2.3.4"}, expected_version=2)


# --- deleting ----------------------------------------------------------------------


async def test_delete_removes_the_host_and_its_key(
    engine: Engine, hosts: HostsService, operator: Actor, ed25519_key: str
) -> None:
    host = await hosts.add_manual_host(operator, hostname="bye.example", ssh_private_key=ed25519_key)
    keep = await hosts.add_manual_host(operator, hostname="stay.example", ssh_private_key=ed25519_key)
    with pytest.raises(ConflictError):
        await hosts.delete_host(operator, host.id, expected_version=7)
    await hosts.delete_host(operator, host.id)
    with pytest.raises(NotFoundError):
        await hosts.get_host(operator, host.id)
    assert [name for name, _, _ in await secret_rows(engine)] == [keep.ssh_key_secret]
    with pytest.raises(NotFoundError):
        await hosts.delete_host(operator, host.id)


@pytest.mark.parametrize("why", ["protected", "kubernetes", "cluster"])
async def test_protected_hosts_and_cluster_members_are_not_deleted(
    engine: Engine, hosts: HostsService, admin: Actor, why: str
) -> None:
    cluster_id = None
    if why == "cluster":
        async with engine.db.unit_of_work() as uow:
            cluster = Cluster(name="prod")
            uow.session.add(cluster)
            await uow.flush()
            cluster_id = cluster.id
    host_id = await insert_host(
        engine,
        hostname=f"{why}-host",
        protected=why == "protected",
        kubernetes_detected=why == "kubernetes",
        cluster_id=cluster_id,
        state=HostState.IN_CLUSTER if why == "cluster" else HostState.PROVISIONED,
    )
    with pytest.raises(ProtectedResourceError) as err:
        await hosts.delete_host(admin, host_id)
    assert f"{why}-host" in str(err.value)
    if why == "cluster":
        assert "cluster prod" in str(err.value)
    assert (await hosts.get_host(admin, host_id)).version == 1


# --- roles -------------------------------------------------------------------------


async def test_roles(engine: Engine, hosts: HostsService, viewer: Actor, operator: Actor) -> None:
    with pytest.raises(PermissionDenied):
        await hosts.add_manual_host(viewer, hostname="v.example")
    host = await hosts.add_manual_host(operator, hostname="o.example")
    with pytest.raises(PermissionDenied):
        await hosts.update_host(viewer, host.id, {"notes": "x"}, expected_version=1)
    with pytest.raises(PermissionDenied):
        await hosts.delete_host(viewer, host.id)
    assert (await hosts.get_host(viewer, host.id)).hostname == "o.example"
    assert (await hosts.list_hosts(viewer)).total == 1
    assert (await hosts.count_by_state(viewer))[HostState.DISCOVERED] == 1
    assert await host_count(engine) == 1


# --- listing -----------------------------------------------------------------------


async def insert_host(engine: Engine, **values: Any) -> uuid.UUID:
    """A host row as discovery and probing leave it (their services are tested elsewhere)."""
    values.setdefault("source", HostSource.MANUAL)
    values.setdefault("state", HostState.DISCOVERED)
    async with engine.db.unit_of_work() as uow:
        host = Host(**values)
        uow.session.add(host)
        await uow.flush()
        return host.id


async def fleet(engine: Engine, n: int = 60) -> list[dict[str, Any]]:
    """n varied hosts inserted in one go; returns their values for checking."""
    states = list(HostState)
    nets = [["mesh"], ["lan"], ["mesh", "public"], []]
    rows: list[dict[str, Any]] = []
    async with engine.db.unit_of_work() as uow:
        for i in range(n):
            gpus = 0 if i % 3 else (1 + i % 4)
            row: dict[str, Any] = {
                "id": uuid.uuid4(),
                "hostname": f"{'gpu' if gpus else 'cpu'}-{(i * 37) % n:03d}",
                "source": HostSource.TAILSCALE if i % 2 else HostSource.MANUAL,
                "state": states[i % len(states)],
                "tailscale_id": f"n{i:04d}" if i % 2 else None,
                "addresses": [f"100.64.{i // 256}.{i % 256}", f"fd7a:115c:a1e0::{i:x}"],
                "ssh_address": f"100.64.{i // 256}.{i % 256}",
                "os": None if i % 5 == 0 else ("linux", "macOS")[i % 2],
                "cpu_cores": None if i % 4 == 0 else (i % 16) + 1,
                "memory_bytes": (i % 9) * 2**30,
                "gpu_count": gpus,
                "gpu_model": "NVIDIA L4" if gpus else None,
                "network_types": nets[i % len(nets)],
            }
            uow.session.add(Host(**row))
            rows.append(row)
    return rows


def python_order(rows: Sequence[dict[str, Any]], column: str, descending: bool) -> list[uuid.UUID]:
    """The expected order: NULLs last in both directions, ties by id in the sort direction."""
    order = list(HostState)

    def key(row: dict[str, Any]) -> Any:
        value = row.get(column)
        if isinstance(value, HostState):
            value = order.index(value)
        elif isinstance(value, HostSource):
            value = list(HostSource).index(value)
        return value

    present = [r for r in rows if key(r) is not None]
    absent = [r for r in rows if key(r) is None]
    present.sort(key=lambda r: (key(r), r["id"]), reverse=descending)
    absent.sort(key=lambda r: r["id"], reverse=descending)
    return [r["id"] for r in [*present, *absent]]


async def list_all(
    hosts: HostsService, actor: Actor, page: int, **kwargs: Any
) -> tuple[list[uuid.UUID], int]:
    ids: list[uuid.UUID] = []
    offset = 0
    while True:
        result = await hosts.list_hosts(actor, limit=page, offset=offset, **kwargs)
        ids.extend(h.id for h in result.rows)
        if len(result.rows) < page:
            return ids, result.total
        offset += page


@pytest.mark.parametrize(
    "column", ["hostname", "state", "source", "os", "cpu_cores", "memory_bytes", "gpu_count"]
)
async def test_sorting_and_paging_happen_in_sql(
    engine: Engine, hosts: HostsService, viewer: Actor, column: str
) -> None:
    rows = await fleet(engine)
    for descending in (False, True):
        ids, total = await list_all(hosts, viewer, 7, sort=column, descending=descending)
        assert total == len(rows)
        assert len(set(ids)) == len(ids)  # no row on two pages
        assert ids == python_order(rows, column, descending), (column, descending)


async def test_filters(engine: Engine, hosts: HostsService, viewer: Actor) -> None:
    rows = await fleet(engine)

    async def ids(**kwargs: Any) -> set[uuid.UUID]:
        found, total = await list_all(hosts, viewer, 1000, **kwargs)
        assert total == len(found)
        return set(found)

    def expect(pred: Any) -> set[uuid.UUID]:
        return {r["id"] for r in rows if pred(r)}

    assert await ids(state="missing") == expect(lambda r: r["state"] is HostState.MISSING)
    assert await ids(state=[HostState.DISCOVERED, "error"]) == expect(
        lambda r: r["state"] in (HostState.DISCOVERED, HostState.ERROR)
    )
    assert await ids(network_type="mesh") == expect(lambda r: "mesh" in r["network_types"])
    assert await ids(network_type="public") == expect(lambda r: "public" in r["network_types"])
    assert await ids(has_gpu=True) == expect(lambda r: r["gpu_count"] > 0)
    assert await ids(has_gpu=False) == expect(lambda r: r["gpu_count"] == 0)
    assert await ids(text="GPU-0") == expect(lambda r: r["hostname"].startswith("gpu-0"))
    # an address that is only in the addresses list (the IPv6 one)
    assert await ids(text="a1e0::2a") == expect(lambda r: "fd7a:115c:a1e0::2a" in r["addresses"])
    assert await ids(text="100.64.0.1") == expect(lambda r: any("100.64.0.1" in a for a in r["addresses"]))
    # LIKE wildcards are taken literally
    assert await ids(text="%") == set()
    assert await ids(text="cpu_") == set()
    combined = await ids(has_gpu=True, network_type="mesh", state="discovered", text="gpu")
    assert combined == expect(
        lambda r: r["gpu_count"] > 0 and "mesh" in r["network_types"] and r["state"] is HostState.DISCOVERED
    )
    assert await ids(text="   ") == expect(lambda r: True)


async def test_text_filter_matches_one_value_at_a_time(
    engine: Engine, hosts: HostsService, viewer: Actor
) -> None:
    """The filter is one LIKE on the generated ``search_text``; texts holding its
    separator or JSON characters must still never match across two values."""
    rows = await fleet(engine, 40)
    async with engine.db.unit_of_work() as uow:
        odd: dict[str, Any] = {
            "id": uuid.uuid4(), "hostname": "Odd-Host", "source": HostSource.TAILSCALE,
            "state": HostState.DISCOVERED, "tailscale_id": "odd", "tailscale_name": 'Odd "Quoted", [x]',
            "addresses": ["10.9.8.7", "10.9.8.8"], "ssh_address": "10.9.8.7",
        }  # fmt: skip
        uow.session.add(Host(**odd))
    rows.append(odd)

    def expected(text: str) -> set[uuid.UUID]:
        needle = text.strip().lower()
        values = lambda r: [r["hostname"], r.get("tailscale_name"), r["ssh_address"], *r["addresses"]]  # noqa: E731
        return {r["id"] for r in rows if any(v and needle in v.lower() for v in values(r))}

    for typed in ["ODD-h", "odd-host\x1f", '"quoted", [x', "quoted\"", ", [", "7, 10", '7", "10',
                 "8.7", "8.8", "::1a", "0.1\x1f100", "[", "]", ",", "\\", "\x1f", "cpu-0", "CPU-00"]:  # fmt: skip
        page = await hosts.list_hosts(viewer, text=typed, limit=1000)
        assert {h.id for h in page.rows} == expected(typed), typed
        assert page.total == len(page.rows), typed


async def test_paging_is_bounded_and_sort_columns_are_allow_listed(
    engine: Engine, hosts: HostsService, viewer: Actor
) -> None:
    await fleet(engine, 12)
    page = await hosts.list_hosts(viewer, limit=5, offset=10)
    assert (len(page.rows), page.total, page.offset, page.limit) == (2, 12, 10, 5)
    assert (await hosts.list_hosts(viewer, offset=500)).rows == ()
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": True}):
        with pytest.raises(ValidationError):
            await hosts.list_hosts(viewer, **bad)
    for sort in ("notes", "hostname; DROP TABLE hosts", "ssh_key_secret", "facts"):
        with pytest.raises(ValidationError, match="cannot be sorted"):
            await hosts.list_hosts(viewer, sort=sort)
    with pytest.raises(ValidationError):
        await hosts.list_hosts(viewer, state="sleeping")
    with pytest.raises(ValidationError):
        await hosts.list_hosts(viewer, network_type="wifi")
    assert "hostname" in SORT_COLUMNS and "notes" not in SORT_COLUMNS
    assert (await hosts.list_hosts(viewer)).total == 12


async def test_count_by_state(engine: Engine, hosts: HostsService, viewer: Actor) -> None:
    assert await hosts.count_by_state(viewer) == dict.fromkeys(HostState, 0)
    rows = await fleet(engine, 23)
    counts = await hosts.count_by_state(viewer)
    assert counts == {s: sum(1 for r in rows if r["state"] is s) for s in HostState}
    assert sum(counts.values()) == 23
