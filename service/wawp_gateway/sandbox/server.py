"""Running the sandbox under uvicorn: `serve()` for the CLI, `running_sandbox()` for tests."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from wawp_gateway.core.serving import TlsFiles, bind, serving

from .app import create_app
from .asgi import RECEIVED_AT_KEY, TRANSPORT_KEY, ASGIApp, Receive, Scope, Send
from .sandbox import Sandbox

__all__ = ["SandboxPortInUseError", "running_sandbox", "serve"]

log = structlog.get_logger(__name__)


class SandboxPortInUseError(OSError):
    """The sandbox's port is taken: a clear error instead of uvicorn's exit or a hang."""


class _TransportProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, handing each request its connection's transport and the time
    its first bytes were read.

    The "disconnect" fault must close the TCP connection without any answer; an ASGI app can
    only do that with the transport, which ASGI does not expose.
    """

    def on_message_begin(self) -> None:
        super().on_message_begin()
        scope: Scope = self.scope  # type: ignore[assignment]  # uvicorn types its extensions
        scope["extensions"] = {RECEIVED_AT_KEY: time.time()}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        inner: ASGIApp = self.app

        async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[TRANSPORT_KEY] = transport
            await inner(scope, receive, send)

        self.app = with_transport


def _refused(host: str, port: int, error: OSError) -> Exception | None:
    if error.errno == errno.EADDRINUSE:
        return SandboxPortInUseError(error.errno, f"Wawp sandbox: {host}:{port} is already in use")
    return None


def _bind(host: str, port: int) -> socket.socket:
    return bind(host, port, _refused, backlog=2048)


async def _serve_socket(
    sandbox: Sandbox,
    sock: socket.socket,
    ready: asyncio.Event | None,
    tls: TlsFiles | None = None,
) -> None:
    sandbox.closing.clear()  # a Sandbox may be served again after an earlier shutdown
    try:
        async with serving(
            create_app(sandbox),
            sock,
            name="Wawp sandbox server",
            http=_TransportProtocol,
            # Cancelled (or the server ended): release hanging requests, then stop uvicorn.
            before_stop=sandbox.aclose,
            tls=tls,
        ) as task:
            host, port = sock.getsockname()[:2]
            log.info("sandbox.listening", host=host, port=port, tls=tls is not None)
            if ready is not None:
                ready.set()
            await asyncio.shield(task)
    finally:
        sock.close()


async def serve(
    sandbox: Sandbox,
    host: str,
    port: int,
    *,
    ready: asyncio.Event | None = None,
    tls: TlsFiles | None = None,
) -> None:
    """Serve until cancelled (HTTPS with ``tls``). Raises SandboxPortInUseError at once when
    the port is taken."""
    sock = _bind(host, port)
    try:
        await _serve_socket(sandbox, sock, ready, tls)
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def running_sandbox(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, tls: TlsFiles | None = None
) -> AsyncIterator[str]:
    """Serve in this event loop for the block; yields the base URL (port 0 = a free port):
    ``https://`` with ``tls`` (the certificate must name ``host``), else ``http://``."""
    sock = _bind(host, port)
    bound_port: Any = sock.getsockname()[1]
    ready = asyncio.Event()
    task = asyncio.create_task(_serve_socket(sandbox, sock, ready, tls))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        await task
    try:
        yield f"{'http' if tls is None else 'https'}://{host}:{bound_port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
