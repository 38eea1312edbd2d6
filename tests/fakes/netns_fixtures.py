"""pytest fixtures for the namespace test hosts of :mod:`tests.fakes.netns_hosts`.

Import the fixtures into a test module (``from tests.fakes.netns_fixtures import
netns_fleet  # noqa: F401``). The fleet is module-scoped: a fixture imported into
several modules is a separate definition in each, so a session scope would not be
shared anyway; making 4 hosts takes ≈ 0.4 s. Tests that break a host use the
host's context managers, which put it back as it was.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.netns_hosts import NetnsFleet, make_fleet, skip_reason

FLEET_SIZE = 4


@pytest.fixture(scope="module")
def netns_fleet() -> Iterator[NetnsFleet]:
    """Four running hosts ``fleet-h1`` … ``fleet-h4`` (skips when not root or tools are missing)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    fleet = make_fleet(FLEET_SIZE)
    try:
        yield fleet
    finally:
        fleet.close()
