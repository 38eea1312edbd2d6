"""Host rows that point at namespace test hosts (tests/fakes/netns_hosts.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from podwarden.engine import Engine
from podwarden.engine.models.fleet import Host, HostSource, HostState
from podwarden.engine.security.rbac import Actor
from tests.fakes.netns_hosts import NetnsFleet, NetnsHost


async def add_namespace_host(
    engine: Engine, admin: Actor, fleet: NetnsFleet, host: NetnsHost, *, user: str = "root", **columns: object
) -> uuid.UUID:
    """A manual host row pointing at a namespace host, with the fleet key as its secret;
    ``columns`` set more (or other) Host attributes."""
    host_id = uuid.uuid4()
    secret = f"host/{host_id}/ssh-key"
    await engine.secrets.create_secret(admin, secret, fleet.client_private_key, kind="ssh-key")
    async with engine.db.unit_of_work() as uow:
        row = Host(
            id=host_id, hostname=f"node-{host.index}", source=HostSource.MANUAL, state=HostState.DISCOVERED,
            ssh_address=host.address, ssh_port=22, ssh_user=user, ssh_key_secret=secret,
        )  # fmt: skip
        for name, value in columns.items():
            setattr(row, name, value)
        uow.session.add(row)
    return host_id


async def load_host(engine: Engine, host_id: uuid.UUID) -> Host:
    """The host row, detached from its session."""
    async with engine.db.session() as session:
        row = (await session.execute(select(Host).where(Host.id == host_id))).scalar_one()
        session.expunge(row)
        return row
