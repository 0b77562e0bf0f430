"""Running the sandbox under uvicorn: `serve()` for the CLI, `running_sandbox()` for tests."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator
from typing import Any

import structlog
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from wawp_gateway.core.serving import EmbeddedServer, listening_socket

from .app import create_app
from .asgi import TRANSPORT_KEY, ASGIApp, Receive, Scope, Send
from .sandbox import Sandbox

__all__ = ["SandboxPortInUseError", "running_sandbox", "serve"]

log = structlog.get_logger(__name__)
_GRACEFUL_SHUTDOWN_S = 5


class SandboxPortInUseError(OSError):
    """The sandbox's port is taken: a clear error instead of uvicorn's exit or a hang."""


class _TransportProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, handing each request its connection's transport.

    The "disconnect" fault must close the TCP connection without any answer; an ASGI app can
    only do that with the transport, which ASGI does not expose.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        inner: ASGIApp = self.app

        async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[TRANSPORT_KEY] = transport
            await inner(scope, receive, send)

        self.app = with_transport


def _bind(host: str, port: int) -> socket.socket:
    try:
        return listening_socket(host, port, backlog=2048)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SandboxPortInUseError(
                exc.errno, f"Wawp sandbox: {host}:{port} is already in use"
            ) from exc
        raise


def _config(sandbox: Sandbox) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(sandbox),
        http=_TransportProtocol,
        lifespan="off",
        access_log=False,  # uvicorn's access log prints query strings, which carry tokens
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
    )


async def _serve_socket(sandbox: Sandbox, sock: socket.socket, ready: asyncio.Event | None) -> None:
    sandbox.closing.clear()  # a Sandbox may be served again after an earlier shutdown
    server = EmbeddedServer(_config(sandbox))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task  # startup failed: surface its exception
                raise RuntimeError("Wawp sandbox server stopped during start-up")
            await asyncio.wait({task}, timeout=0.01)
        host, port = sock.getsockname()[:2]
        log.info("sandbox.listening", host=host, port=port)
        if ready is not None:
            ready.set()
        await asyncio.shield(task)
    finally:
        # Cancelled (or the server ended): release hanging requests, then stop uvicorn cleanly.
        await sandbox.aclose()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


async def serve(
    sandbox: Sandbox, host: str, port: int, *, ready: asyncio.Event | None = None
) -> None:
    """Serve until cancelled. Raises SandboxPortInUseError at once when the port is taken."""
    sock = _bind(host, port)
    try:
        await _serve_socket(sandbox, sock, ready)
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def running_sandbox(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve in this event loop for the block; yields the base URL (port 0 = a free port)."""
    sock = _bind(host, port)
    bound_port: Any = sock.getsockname()[1]
    ready = asyncio.Event()
    task = asyncio.create_task(_serve_socket(sandbox, sock, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        await task
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
