"""Authentication, the audit log and request metrics, for every HTTP request in one place.

Public paths (health, sign-in, the OpenAPI document, /metrics) need no credentials.
Every other request is authenticated first (401 otherwise). For each
authenticated ``/api/`` request exactly one audit row is written, before the
response reaches the client. MCP requests are authenticated here and audited
per tool call by the MCP layer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podwarden.engine.api.errors import error_response
from podwarden.engine.api.metrics import ApiMetrics
from podwarden.engine.errors import PodWardenError
from podwarden.engine.security.rbac import Actor

log = logging.getLogger(__name__)

Authenticate = Callable[[str | None], Awaitable[Actor]]
Audit = Callable[[Actor, str, str, int, float], Awaitable[None]]


class AuthAuditMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate,
        audit: Audit,
        metrics: ApiMetrics,
        public_paths: frozenset[str],
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.audit = audit
        self.metrics = metrics
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        started = time.perf_counter()
        status = 500
        actor: Actor | None = None
        audited = path.startswith("/api/")
        held: Message | None = None
        done = False

        async def finish() -> None:
            nonlocal done
            if done:
                return
            done = True
            if actor is not None and audited:
                ms = (time.perf_counter() - started) * 1000
                try:
                    await self.audit(actor, method, path, status, ms)
                except PodWardenError as exc:  # a lost audit row must not fail the call
                    log.warning("could not write the audit entry for %s %s: %s", method, path, exc)

        async def send_wrapper(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = int(message["status"])
                held = message
                return
            if message["type"] == "http.response.body" and held is not None:
                if not message.get("more_body", False):
                    await finish()
                start, held = held, None
                await send(start)
            await send(message)

        try:
            if path not in self.public_paths:
                try:
                    actor = await self.authenticate(_header(scope, b"authorization"))
                except PodWardenError as exc:
                    await error_response(exc)(scope, receive, send_wrapper)
                    return
                scope.setdefault("state", {})["actor"] = actor
            await self.app(scope, receive, send_wrapper)
        finally:
            await finish()
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/mcp" if path.startswith("/mcp") else "unmatched")
            self.metrics.observe(method, template, status, time.perf_counter() - started)


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def actor_of(state: Any) -> Actor:
    actor = getattr(state, "actor", None)
    if not isinstance(actor, Actor):  # the middleware guarantees one on non-public paths
        from podwarden.engine.errors import AuthenticationError

        raise AuthenticationError("This request is not authenticated.")
    return actor
