"""Serve the API with uvicorn inside the caller's running event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from podwarden.engine.errors import ConfigurationError

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
# Short enough that the whole stop fits in `docker stop`'s default 10 s grace period.
DEFAULT_SHUTDOWN_TIMEOUT = 3.0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The host program owns SIGTERM/SIGINT (app/headless.py); uvicorn must not take them.
        yield


class ApiServer:
    """``async with ApiServer(app, host, port) as server:`` serves until the block ends.

    Port 0 picks a free port; ``server.port`` tells which.

    Stopping closes the listener, lets requests in progress finish for up to
    ``shutdown_timeout`` seconds, then cancels the rest and waits (again up to
    ``shutdown_timeout``) until their cancellation has run — so a job a cancelled
    request was running has recorded its final state, and its audit row is written,
    before the caller goes on to close the engine.
    """

    def __init__(
        self,
        app: FastAPI,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.shutdown_timeout = shutdown_timeout
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigurationError(f"Cannot listen on {self.host}:{self.port}: {exc.strerror}.") from exc
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=max(1, round(self.shutdown_timeout)),
        )
        self._server = server = _Server(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="podwarden-api")
        while not server.started:
            if self._task.done():
                sock.close()
                await self._task  # raises what stopped it
                raise ConfigurationError("The API server stopped while starting.")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            # uvicorn cancels what outlived the grace period but does not wait for it.
            cancelled = [t for t in self._server.server_state.tasks if not t.done()]
            if cancelled:
                await asyncio.wait(cancelled, timeout=self.shutdown_timeout)
        self._server = self._task = None

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
