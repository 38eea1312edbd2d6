"""A real engine + API server on 127.0.0.1 (random port), in its own thread and event loop.

The thread lets synchronous clients (httpx, schemathesis) and async tests talk to it alike.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from podwarden.engine import Engine, Settings
from podwarden.engine.api import ApiServer, create_app
from podwarden.engine.models.access import Role
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.tokens import TokensService

T = TypeVar("T")
ADMIN = Actor(kind="user", name="test-admin", role=Role.ADMIN)


@dataclass
class Served:
    url: str
    engine: Engine
    tokens: TokensService
    loop: asyncio.AbstractEventLoop
    bearer: dict[Role, str] = field(default_factory=dict)

    def run(self, fn: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        """Run a coroutine in the server's loop and wait for its result."""

        async def call() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer[role]}"}

    def audit_count(self) -> int:
        return len(self.run(lambda: self.tokens.list_audit(ADMIN, limit=500)))


@contextmanager
def serve_api(settings: Settings) -> Iterator[Served]:
    ready: Future[Served] = Future()
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        try:
            async with Engine(settings) as engine:
                app = create_app(engine)
                tokens = TokensService(engine.context)
                async with ApiServer(app, "127.0.0.1", 0) as server:
                    served = Served(server.url, engine, tokens, asyncio.get_running_loop())
                    for role in Role:
                        issued = await tokens.create_token(ADMIN, f"{role.value}-token", role)
                        served.bearer[role] = issued.token
                    ready.set_result(served)
                    await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread_error: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            thread_error.append(exc)

    thread = threading.Thread(target=target, name="api-server", daemon=True)
    thread.start()
    served = ready.result(timeout=120)
    try:
        yield served
    finally:
        assert stop is not None
        served.loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        if thread_error and not isinstance(thread_error[0], asyncio.CancelledError):
            raise thread_error[0]


def run_coro(served: Served, coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return served.run(coro_fn)
