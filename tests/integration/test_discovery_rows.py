"""Discovery's rows reach PostgreSQL intact: one JSON parameter fills the temp table.

Odd characters (quotes, backslashes, tabs, non-ASCII, JSON look-alikes) arrive as
sent; NUL characters, which PostgreSQL text cannot hold, are dropped instead of
failing the run; times keep their instant; empty lists stay empty.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from podwarden.engine import Engine
from podwarden.engine.adapters.tailscale import TailscaleDevice
from podwarden.engine.models.fleet import Host
from podwarden.engine.services.discovery import DiscoveryService


def device(node: str, **fields: object) -> TailscaleDevice:
    values: dict[str, object] = {
        "id": node, "hostname": node, "name": f"{node}.tail.ts.net", "addresses": ["100.64.0.1"], "os": "linux",
        "client_version": "1.76", "tags": [], "last_seen": None, "connected_to_control": True, "authorized": True,
        "user": "u",
    }  # fmt: skip
    values.update(fields)
    return TailscaleDevice(**values)  # type: ignore[arg-type]


async def test_odd_characters_and_nul_survive_the_trip(engine: Engine) -> None:
    seen = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    odd = 'q"uote \\ back\ttab é ✓ {"json": [1]} \'single\''
    devices = [
        device("n1", hostname=odd, tags=['tag:a"b', "tag:c\\d"], os="lin\x00ux", last_seen=seen),
        device("n2", hostname="nul\x00name", addresses=["fd7a::1", "100.64.0.2\x00"], tags=["tag:\x00x"]),
        device("n3", hostname="", name="", addresses=[]),
    ]
    counts = await DiscoveryService(engine.context).reconcile_devices(devices)
    assert (counts.devices, counts.added) == (3, 3)
    async with engine.db.session() as session:
        hosts = {h.tailscale_id: h for h in (await session.execute(select(Host))).scalars()}
    one, two, three = hosts["n1"], hosts["n2"], hosts["n3"]
    assert one.hostname == odd and one.tailscale_tags == ['tag:a"b', "tag:c\\d"] and one.os == "linux"
    assert one.tailscale_last_seen == seen and one.ssh_address == "100.64.0.1"
    assert two.hostname == "nulname" and two.addresses == ["fd7a::1", "100.64.0.2"]
    assert two.tailscale_tags == ["tag:x"] and two.ssh_address == "100.64.0.2"
    assert three.hostname == "n3" and three.tailscale_name is None
    assert three.addresses == [] and three.ssh_address is None

    again = await DiscoveryService(engine.context).reconcile_devices(devices)
    assert (again.unchanged, again.written) == (3, 0)  # compared equal: nothing rewritten
