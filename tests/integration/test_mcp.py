"""The MCP endpoint over real streamable HTTP with the official ``mcp`` client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from podwarden.engine import Engine, Settings
from podwarden.engine.api import ApiServer, create_app
from podwarden.engine.models.access import Role
from podwarden.engine.security.rbac import OPERATIONS, Access, Actor
from podwarden.engine.services.config import ConfigService
from podwarden.engine.services.tokens import TokensService


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[tuple[ApiServer, Engine]]:
    async with Engine(settings) as engine, ApiServer(create_app(engine), "127.0.0.1", 0) as srv:
        yield srv, engine


@asynccontextmanager
async def mcp_client(url: str, token: str) -> AsyncIterator[Client]:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        yield client


def _payload(result: Any) -> Any:
    return json.loads(result.content[0].text)


async def test_tools_are_read_only_by_default_and_calls_are_audited(
    server: tuple[ApiServer, Engine], admin: Actor
) -> None:
    srv, engine = server
    tokens = TokensService(engine.context)
    issued = await tokens.create_token(admin, "mcp-agent", Role.ADMIN)
    async with mcp_client(srv.url, issued.token) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "users.list_users" in tools
        assert "hosts.list_hosts" in tools
        assert all(OPERATIONS[name].access is Access.READ for name in tools), sorted(tools)
        assert tools["users.list_users"].annotations.read_only_hint is True
        schema = tools["tokens.list_audit"].input_schema
        assert set(schema["properties"]) == {"token_id", "since", "limit"}

        result = await client.call_tool("users.list_users", {})
        assert not result.is_error
        assert _payload(result) == []

        bad = await client.call_tool("tokens.list_audit", {"limit": "many"})
        assert bad.is_error
        assert "limit" in _payload(bad)["errors"]

        off = await client.call_tool(
            "users.create_user", {"username": "x", "password": "p" * 12, "role": "viewer"}
        )
        assert off.is_error
        assert _payload(off)["error"] == "PermissionDenied"

    audit = await tokens.list_audit(admin, token_id=issued.info.id)
    assert [(a.method, a.path, a.status_code) for a in reversed(audit)] == [
        ("TOOL", "/mcp/tool/users.list_users", 200),
        ("TOOL", "/mcp/tool/tokens.list_audit", 422),
        ("TOOL", "/mcp/tool/users.create_user", 403),
    ]


async def test_mutating_tools_after_an_admin_allows_them(
    server: tuple[ApiServer, Engine], admin: Actor
) -> None:
    srv, engine = server
    tokens = TokensService(engine.context)
    operator = await tokens.create_token(admin, "mcp-operator", Role.OPERATOR)
    await ConfigService(engine.context).update_system_config(admin, {"mcp": {"allow_mutating": True}})
    async with mcp_client(srv.url, operator.token) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "users.create_user" in names
        assert "users.delete_user" not in names  # destructive stays off
        denied = await client.call_tool(
            "users.create_user", {"username": "x", "password": "p" * 12, "role": "viewer"}
        )
        assert _payload(denied)["error"] == "PermissionDenied"  # the role check still applies
        assert "admin" in _payload(denied)["message"]


async def test_mcp_needs_a_valid_token(server: tuple[ApiServer, Engine]) -> None:
    srv, _ = server
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{srv.url}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert r.status_code == 401
