"""The MCP endpoint (``/mcp``, streamable HTTP, official ``mcp`` SDK): one tool per remote operation.

Read tools are always listed; mutating and destructive tools only while
``SystemConfigDoc.mcp.allow_mutating`` / ``allow_destructive`` are on. The
caller's token was checked by the HTTP middleware; each tool call writes one
audit row (method ``TOOL``, path ``/mcp/tool/<name>``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic
from mcp import types
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from podwarden.engine.api.errors import status_for
from podwarden.engine.api.metrics import ApiMetrics
from podwarden.engine.api.operations import RemoteOperation
from podwarden.engine.errors import AuthenticationError, PodWardenError
from podwarden.engine.security.rbac import Access, Actor
from podwarden.engine.services.config import McpConfig
from podwarden.engine.services.tokens import TokensService

if TYPE_CHECKING:
    from podwarden.engine.engine import Engine


@dataclass
class McpApp:
    asgi: StreamableHTTPASGIApp
    lifespan: Callable[[], AbstractAsyncContextManager[None]]


def tool_path(name: str) -> str:
    return f"/mcp/tool/{name}"


def allowed(access: Access, config: McpConfig) -> bool:
    if access is Access.READ:
        return True
    if access is Access.MUTATING:
        return config.allow_mutating
    return config.allow_destructive


def _tool(op: RemoteOperation) -> types.Tool:
    info = op.info
    return types.Tool(
        name=info.name,
        description=f"{info.doc}\n(access: {info.access.value}; needs {info.permission.role.value})",
        input_schema=op.input_model.model_json_schema(),
        annotations=types.ToolAnnotations(
            read_only_hint=info.access is Access.READ,
            destructive_hint=info.access is Access.DESTRUCTIVE,
        ),
    )


def _result(payload: Any, *, error: bool = False) -> types.CallToolResult:
    text = json.dumps(payload, default=str)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content={"result": payload} if not error else None,
        is_error=error,
    )


LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")


def build_mcp(
    engine: Engine,
    operations: dict[str, RemoteOperation],
    tokens: TokensService,
    metrics: ApiMetrics,
    *,
    allowed_hosts: Sequence[str] | None = None,
) -> McpApp:
    async def mcp_config() -> McpConfig:
        doc, _ = await engine.config.get_system_config(Actor.system())
        return doc.mcp

    def actor_of(ctx: Any) -> Actor:
        request = getattr(ctx, "request", None)
        state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
        actor = state.get("actor") if isinstance(state, dict) else None
        if not isinstance(actor, Actor):
            raise AuthenticationError("This MCP request is not authenticated.")
        return actor

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        config = await mcp_config()
        return types.ListToolsResult(
            tools=[_tool(op) for op in operations.values() if allowed(op.info.access, config)]
        )

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        actor = actor_of(ctx)
        started = time.perf_counter()
        status = 200
        try:
            result = await _call(params.name, params.arguments or {}, actor)
        except PodWardenError as exc:
            status = status_for(exc)
            errors = getattr(exc, "errors", None)
            result = _result(
                {"error": type(exc).__name__, "message": str(exc), "errors": errors or {}}, error=True
            )
        except pydantic.ValidationError as exc:
            status = 422
            details = {".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.errors()}
            result = _result(
                {"error": "ValidationError", "message": "Invalid arguments.", "errors": details}, error=True
            )
        finally:
            ms = (time.perf_counter() - started) * 1000
            metrics.tool_calls.labels(params.name, str(status)).inc()
            await tokens.record_audit(
                actor, method="TOOL", path=tool_path(params.name), status_code=status, duration_ms=ms
            )
        return result

    async def _call(name: str, arguments: dict[str, Any], actor: Actor) -> types.CallToolResult:
        op = operations.get(name)
        if op is None:
            from podwarden.engine.errors import NotFoundError

            raise NotFoundError("MCP tool", name)
        if not allowed(op.info.access, await mcp_config()):
            from podwarden.engine.errors import PermissionDenied

            raise PermissionDenied(
                f"The {op.info.access.value} tool {name} is off; an admin can allow it in the MCP settings."
            )
        params = op.input_model.model_validate(arguments)
        return _result(op.dump(await op.invoke(actor, params)))

    server: Server[Any] = Server("podwarden", version="1", on_list_tools=list_tools, on_call_tool=call_tool)
    manager = StreamableHTTPSessionManager(
        app=server,
        json_response=True,
        stateless=True,
        security_settings=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(allowed_hosts or LOOPBACK_HOSTS),
            allowed_origins=[f"http://{h}" for h in (allowed_hosts or LOOPBACK_HOSTS)]
            + [f"https://{h}" for h in (allowed_hosts or LOOPBACK_HOSTS)],
        ),
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with manager.run():
            yield

    return McpApp(StreamableHTTPASGIApp(manager), lifespan)
