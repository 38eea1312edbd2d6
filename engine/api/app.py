"""The HTTP API: REST under ``/api/v1`` (routes derived from the operation registry), ``/metrics``, ``/mcp``.

Route scheme, one per registered operation ``<service>.<method>``:

- ``GET  /api/v1/ops/<service>.<method>?param=…`` for read operations whose
  parameters are all scalars (query parameters);
- ``POST /api/v1/ops/<service>.<method>`` with a JSON object of the parameters
  for every other operation (read with structured input, mutating, destructive).

The OpenAPI operation id is the operation name; ``x-podwarden-access``,
``x-podwarden-permission`` and ``x-podwarden-role`` repeat the registry entry.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Body, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from podwarden.engine.api.audit_log import AuditWriter
from podwarden.engine.api.auth import Authenticator
from podwarden.engine.api.errors import (
    error_body,
    error_response,
    podwarden_error_handler,
    request_validation_handler,
)
from podwarden.engine.api.metrics import CONTENT_TYPE, ApiMetrics
from podwarden.engine.api.middleware import AuthAuditMiddleware, actor_of
from podwarden.engine.api.operations import RemoteOperation, remote_operations
from podwarden.engine.errors import PodWardenError
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.base import Service
from podwarden.engine.services.tokens import TokensService

if TYPE_CHECKING:
    from podwarden.engine.engine import Engine
    from podwarden.engine.loops.runner import LoopRunner

PREFIX = "/api/v1"
OPENAPI_PATH = f"{PREFIX}/openapi.json"
PUBLIC_PATHS = frozenset(
    {f"{PREFIX}/health", f"{PREFIX}/auth/login", OPENAPI_PATH, f"{PREFIX}/docs", "/metrics"}
)

bearer = HTTPBearer(auto_error=False, description="An API token (pwm_…) or an access token from /auth/login")


class ErrorBody(BaseModel):
    error: str
    message: str
    errors: dict[str, str] = {}


class Health(BaseModel):
    status: str
    database: str


class LoginRequest(BaseModel):
    username: str
    password: str


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int


class Me(BaseModel):
    kind: str
    name: str
    role: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in [
        (401, "Not signed in, or the token is unknown, expired or revoked"),
        (403, "The caller's role may not do this"),
        (404, "Not found"),
        (409, "Conflict (stale version, duplicate)"),
        (422, "Invalid input"),
        (423, "Protected resource"),
        (502, "An outside system refused"),
        (503, "The database or an outside system is unavailable (see Retry-After)"),
    ]
}


def engine_services(engine: Engine) -> list[object]:
    services: list[object] = [v for v in vars(engine).values() if isinstance(v, Service)]
    if not any(isinstance(s, TokensService) for s in services):
        services.append(TokensService(engine.context))
    return services


def create_app(
    engine: Engine,
    *,
    loops: LoopRunner | None = None,
    with_mcp: bool = True,
    mcp_allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The ASGI app for an open engine. Serve it with :class:`~podwarden.engine.api.server.ApiServer`.

    ``loops``: the engine's loop runner, whose counters ``/metrics`` reports.
    ``mcp_allowed_hosts``: Host headers the MCP endpoint accepts (DNS-rebinding guard);
    loopback names by default, add the public name when binding beyond loopback.
    """
    services = engine_services(engine)
    tokens = next(s for s in services if isinstance(s, TokensService))
    operations, skipped = remote_operations(services)
    authenticator = Authenticator(tokens, engine.users, engine.secrets)
    metrics = ApiMetrics()
    if loops is not None:
        metrics.watch_loops(loops.stats)
    mcp_app: Any = None
    if with_mcp:
        from podwarden.engine.api.mcp import build_mcp

        mcp_app = build_mcp(engine, operations, tokens, metrics, allowed_hosts=mcp_allowed_hosts)

    audit_writer = AuditWriter(engine.context.db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(audit_writer.close)  # rows of cancelled calls still land
            if mcp_app is not None:
                await stack.enter_async_context(mcp_app.lifespan())
            yield

    app = FastAPI(
        title="PodWarden API",
        version="1",
        description=__doc__,
        openapi_url=OPENAPI_PATH,
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.operations = operations
    app.state.skipped_operations = skipped
    app.state.metrics = metrics
    app.state.authenticator = authenticator
    app.state.audit_writer = audit_writer
    app.add_exception_handler(PodWardenError, podwarden_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)

    async def audit(actor: Actor, method: str, path: str, status: int, ms: float) -> None:
        await audit_writer.record(actor, method=method, path=path, status_code=status, duration_ms=ms)

    app.add_middleware(
        AuthAuditMiddleware,
        authenticate=authenticator.actor_for_header,
        audit=audit,
        metrics=metrics,
        public_paths=PUBLIC_PATHS,
    )
    _add_fixed_routes(app, engine, authenticator, metrics)
    for op in operations.values():
        _add_operation_route(app, op)
    if mcp_app is not None:
        app.add_route("/mcp", mcp_app.asgi, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    return app


def _add_fixed_routes(
    app: FastAPI, engine: Engine, authenticator: Authenticator, metrics: ApiMetrics
) -> None:
    @app.get(
        f"{PREFIX}/health", tags=["system"], response_model=Health, responses={503: {"model": ErrorBody}}
    )
    async def health() -> Any:
        """Whether the engine can reach its database (no sign-in needed)."""
        try:
            await engine.context.db.ping()
        except PodWardenError as exc:
            response = error_response(exc)
            if response.status_code < 500:
                return JSONResponse(error_body(type(exc).__name__, str(exc)), 503, {"Retry-After": "5"})
            return response
        return Health(status="ok", database="ok")

    @app.post(
        f"{PREFIX}/auth/login",
        tags=["auth"],
        response_model=LoginResponse,
        responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    )
    async def login(body: LoginRequest) -> LoginResponse:
        """Sign a local user in for a short-lived access token (JWT, HS256)."""
        token, lifetime = await authenticator.login(body.username, body.password)
        return LoginResponse(access_token=token, expires_in=lifetime)

    @app.get(
        f"{PREFIX}/auth/me",
        tags=["auth"],
        response_model=Me,
        dependencies=[Security(bearer)],
        responses={401: {"model": ErrorBody}},
    )
    async def me(request: Request) -> Me:
        """Who the credentials belong to."""
        actor = actor_of(request.state)
        return Me(kind=actor.kind, name=actor.name, role=actor.role.value)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        with contextlib.suppress(PodWardenError):  # database down: serve the request metrics anyway
            metrics.set_jobs(await engine.jobs.count_by_state(Actor.system()))
        return Response(metrics.render(), media_type=CONTENT_TYPE)


def _add_operation_route(app: FastAPI, op: RemoteOperation) -> None:
    info = op.info
    model = op.input_model
    required = any(f.is_required() for f in model.model_fields.values())
    parameters = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    if model.model_fields:
        if op.query:
            annotation: Any = Annotated[model, Query()]
            default: Any = inspect.Parameter.empty
        elif required:
            annotation, default = Annotated[model, Body()], inspect.Parameter.empty
        else:
            annotation, default = Annotated[model | None, Body()], None
        parameters.append(
            inspect.Parameter(
                "params", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default
            )
        )

    async def endpoint(request: Request, params: BaseModel | None = None) -> Any:
        if params is None and model.model_fields:
            params = model()
        return await op.invoke(actor_of(request.state), params)

    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = info.name.replace(".", "_")
    role = info.permission.role.value
    description = (
        f"{info.doc}\n\nAccess: {info.access.value}. Needs `{info.permission.name}` ({role} or above)."
    )
    app.add_api_route(
        f"{PREFIX}/ops/{info.name}",
        endpoint,
        methods=["GET" if op.query else "POST"],
        response_model=op.output_type,
        tags=[info.service],
        summary=(info.doc.splitlines() or [info.name])[0],
        description=description,
        operation_id=info.name,
        dependencies=[Security(bearer)],
        responses=ERROR_RESPONSES,
        openapi_extra={
            "x-podwarden-access": info.access.value,
            "x-podwarden-permission": info.permission.name,
            "x-podwarden-role": role,
        },
    )
