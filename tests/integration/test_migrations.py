"""Migration 0002 on databases left by 0001: compose aliases move out of ``placement``
into ``deployments.service_aliases``; hosts get ``search_text`` (+ a trigram index
when pg_trgm can be created, and a working text filter when it cannot)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from podwarden.engine import Engine
from podwarden.engine.db.migrate import alembic_config
from podwarden.engine.db.urls import libpq_conninfo
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.deployments import DeploymentsService
from podwarden.engine.services.hosts import HostsService
from tests.conftest import TEST_KEY
from tests.pg import PgTestServer


def _alembic(url: URL, command_name: str, target: str) -> None:
    from alembic import command

    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            getattr(command, command_name)(cfg, target)
    finally:
        eng.dispose()


def _sql(url: URL, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@pytest.fixture
def db_0001(pg_server: PgTestServer) -> Iterator[URL]:
    url = pg_server.new_empty_database()
    _alembic(url, "upgrade", "0001")
    yield url
    pg_server.drop(url)


def _add_deployment(url: URL, name: str, placement: object) -> uuid.UUID:
    deployment_id = uuid.uuid4()
    _sql(
        url,
        "INSERT INTO deployments (id, name, namespace, replicas, env_values, config_values, placement,"
        " status, status_message, version) VALUES (%s, %s, 'shop', 1, '{}', '{}', %s, 'draft', '', 1)",
        (deployment_id, name, json.dumps(placement)),
    )
    return deployment_id


def _add_host(url: URL, hostname: str, addresses: list[str], tailscale_name: str | None = None) -> None:
    _sql(
        url,
        "INSERT INTO hosts (id, hostname, source, state, tailscale_name, tailscale_tags, addresses, ssh_port,"
        " ssh_user, gpu_count, network_types, facts, kubernetes_detected, protected, is_gateway, notes,"
        " version) VALUES (%s, %s, 'manual', 'discovered', %s, '[]', %s, 22, 'root', 0, '[]', '{}', false,"
        " false, false, '', 1)",
        (uuid.uuid4(), hostname, tailscale_name, json.dumps(addresses)),
    )


def _engine_settings(url: URL, tmp_path):  # type: ignore[no-untyped-def]
    from podwarden.engine import Settings

    return Settings(
        database_url=url.render_as_string(hide_password=False), data_dir=tmp_path, secret_key=TEST_KEY
    )


async def test_0001_aliases_in_placement_move_to_their_column(db_0001: URL, tmp_path, admin: Actor) -> None:
    web = _add_deployment(db_0001, "web", {"node_selector": {"gpu": "yes"}, "service_aliases": ["db", "pg"]})
    plain = _add_deployment(db_0001, "plain", {"hostname": "n1"})
    empty = _add_deployment(db_0001, "empty", {})
    odd = _add_deployment(db_0001, "odd", {"service_aliases": None})

    async with Engine(_engine_settings(db_0001, tmp_path)) as engine:  # migrates to head
        rows = dict(
            _sql(db_0001, "SELECT name, json_build_array(placement, service_aliases) FROM deployments")
        )
        assert rows == {
            "web": [{"node_selector": {"gpu": "yes"}}, ["db", "pg"]],
            "plain": [{"hostname": "n1"}, []],
            "empty": [{}, []],
            "odd": [{}, []],
        }
        service = DeploymentsService(engine.context)
        info = await service.get_deployment(admin, web)
        assert info.service_aliases == ["db", "pg"]
        assert info.placement == {"node_selector": {"gpu": "yes"}}
        assert (await service.get_deployment(admin, plain)).service_aliases == []
        assert {d.id for d in await service.list_deployments(admin)} == {web, plain, empty, odd}

    _alembic(db_0001, "downgrade", "0001")  # and back: the aliases return to placement
    back = dict(_sql(db_0001, "SELECT name, placement FROM deployments"))
    assert back["web"] == {"node_selector": {"gpu": "yes"}, "service_aliases": ["db", "pg"]}
    assert back["plain"] == {"hostname": "n1"}


async def test_0001_hosts_get_search_text_and_a_trigram_index(db_0001: URL, tmp_path, admin: Actor) -> None:
    _add_host(db_0001, "Web-01", ["10.0.0.5", "fd7a::5"], tailscale_name="web-01.tail.ts.net")
    _add_host(db_0001, "db-01", ["10.0.0.6"])
    _alembic(db_0001, "upgrade", "head")
    texts = dict(_sql(db_0001, "SELECT hostname, search_text FROM hosts"))
    assert texts["Web-01"] == 'web-01\x1fweb-01.tail.ts.net\x1f\x1f["10.0.0.5", "fd7a::5"]'
    index = _sql(db_0001, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_hosts_search_text_trgm'")
    assert index and "gin_trgm_ops" in str(index[0][0])
    async with Engine(_engine_settings(db_0001, tmp_path)) as engine:
        hosts = HostsService(engine.context)
        assert [h.hostname for h in (await hosts.list_hosts(admin, text="WEB-0")).rows] == ["Web-01"]
        assert [h.hostname for h in (await hosts.list_hosts(admin, text="FD7A:")).rows] == ["Web-01"]
        # Across two addresses / fields is no match (the per-field test decides).
        assert (await hosts.list_hosts(admin, text='5", "fd')).total == 0
        assert (await hosts.list_hosts(admin, text="0.6")).total == 1


async def test_without_pg_trgm_privilege_the_migration_and_the_filter_still_work(
    pg_server: PgTestServer, tmp_path, admin: Actor
) -> None:
    """A role that may not CREATE in the database cannot create the (trusted) extension."""
    url = pg_server.new_empty_database()
    role = f"pw_noext_{uuid.uuid4().hex[:8]}"
    admin_url = pg_server.admin_url
    _sql(admin_url, f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    try:
        _sql(url, f'REVOKE CREATE ON DATABASE "{url.database}" FROM PUBLIC')
        _sql(url, f"GRANT ALL ON SCHEMA public TO {role}")
        limited = url.set(username=role, password="pw")
        async with Engine(_engine_settings(limited, tmp_path)) as engine:
            assert _sql(url, "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'") == []
            assert _sql(url, "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_hosts_search_text_trgm'") == []
            hosts = HostsService(engine.context)
            await hosts.add_manual_host(admin, hostname="edge-7", ssh_address="192.0.2.7")
            await hosts.add_manual_host(admin, hostname="core-1", ssh_address="192.0.2.1")
            page = await hosts.list_hosts(admin, text="EDGE")
            assert [h.hostname for h in page.rows] == ["edge-7"] and page.total == 1
            assert (await hosts.list_hosts(admin, text="192.0.2.")).total == 2
    finally:
        pg_server.drop(url)
        _sql(admin_url, f"DROP OWNED BY {role}")
        _sql(admin_url, f"DROP ROLE IF EXISTS {role}")
