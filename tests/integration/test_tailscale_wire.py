"""The msgspec wire parsing of the Tailscale device list: times, defaults, GC state.

Against the local fake Tailscale API (a real HTTP server). The shapes and error
messages are covered in test_tailscale_adapter.py; this file pins what the switch
from pydantic to msgspec had to keep: how times are read, what absent fields
become, and that the cyclic GC is back on after parsing.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from podwarden.engine.adapters.tailscale import TailscaleClient
from podwarden.engine.errors import PermanentServiceError
from tests.fakes import tailscale_api as fake_module
from tests.fakes.tailscale_api import FAKE_TAILNET, FakeTailscaleAPI, make_device

tailscale_api = fake_module.tailscale_api  # the fixture


def client(fake: FakeTailscaleAPI) -> TailscaleClient:
    return TailscaleClient(fake.base_url, FAKE_TAILNET, api_key=fake.api_key, timeout=10)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2026-03-04T05:06:07Z", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2026-03-04T05:06:07.123456789Z", datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)),  # truncated
        ("2026-03-04T07:06:07+02:00", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2026-03-04T05:06:07", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),  # naive: UTC
        ("2026-03-04 05:06:07Z", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),  # pydantic's lax forms too
        ("0001-01-01T00:00:00Z", None),  # Go's zero time: never
        ("", None),
        (None, None),
    ],
)
async def test_times_are_aware_utc(tailscale_api: FakeTailscaleAPI, wire: str | None, expected: Any) -> None:
    tailscale_api.set_devices([make_device(0, lastSeen=wire, expires=wire)])
    async with client(tailscale_api) as c:
        (device,) = await c.list_devices()
    assert device.last_seen == expected and device.expires == expected
    if expected is not None:
        assert device.last_seen is not None and device.last_seen.utcoffset() == timedelta(0)
        assert device.last_seen.tzinfo is UTC


async def test_absent_fields_get_their_defaults(tailscale_api: FakeTailscaleAPI) -> None:
    tailscale_api.set_devices([{"id": "12345", "addresses": ["100.64.0.7"]}])
    async with client(tailscale_api) as c:
        (device,) = await c.list_devices()
    assert (device.id, device.legacy_id, device.hostname, device.name, device.tags) == (
        "12345",
        "12345",
        "",
        "",
        [],
    )
    assert (device.authorized, device.is_external, device.key_expiry_disabled) == (False, False, False)
    assert device.connected_to_control is None and device.update_available is None
    assert device.last_seen is None and device.ipv4 == "100.64.0.7"


async def test_bad_time_names_its_place_and_gc_is_back_on(tailscale_api: FakeTailscaleAPI) -> None:
    assert gc.isenabled()
    tailscale_api.set_devices([make_device(0), make_device(1, expires="2026-13-01T00:00:00Z")])
    async with client(tailscale_api) as c:
        with pytest.raises(PermanentServiceError, match=r"devices\.1\.expires") as caught:
            await c.list_devices()
        assert tailscale_api.api_key not in str(caught.value)
        assert gc.isenabled()
        tailscale_api.set_devices([make_device(i) for i in range(50)])
        assert len(await c.list_devices()) == 50
    assert gc.isenabled()
