"""Embedding uvicorn in a process that owns its signals: the webhook receiver, the sandbox.

``bind`` takes the port first (a taken port is the caller's clear error, before anything else
starts); ``serving`` runs uvicorn on that socket with the project's settings for a block, in
plain HTTP or, given ``TlsFiles``, in HTTPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

__all__ = ["EmbeddedServer", "TlsFiles", "bind", "listening_socket", "serving"]

_GRACEFUL_SHUTDOWN_S = 5


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A server's certificate chain and private key, PEM files: the server speaks HTTPS."""

    certfile: Path
    keyfile: Path


class EmbeddedServer(uvicorn.Server):
    # Signals belong to whoever embeds the server (the CLI, pytest), not to uvicorn.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def listening_socket(host: str, port: int, *, backlog: int = 1024) -> socket.socket:
    """A bound, listening, non-blocking socket (port 0: a free one); raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it every answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # SO_REUSEADDR (not REUSEPORT) only skips TIME_WAIT; a live listener still refuses us.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def bind(
    host: str,
    port: int,
    refused: Callable[[str, int, OSError], Exception | None],
    *,
    backlog: int = 1024,
) -> socket.socket:
    """``listening_socket``, its OSError turned into the caller's clear error.

    ``refused(host, port, error)`` names the error to raise (e.g. that the port is taken), or
    None to let the OSError itself propagate.
    """
    try:
        return listening_socket(host, port, backlog=backlog)
    except OSError as exc:
        clear = refused(host, port, exc)
        if clear is None:
            raise
        raise clear from exc


@contextlib.asynccontextmanager
async def serving(
    app: Callable[..., Any],
    sock: socket.socket,
    *,
    name: str,
    http: type[asyncio.Protocol] | str = "auto",
    proxy_headers: bool = True,
    before_stop: Callable[[], Awaitable[None]] | None = None,
    tls: TlsFiles | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    """uvicorn serving ``app`` on ``sock`` for the block; yields the server's task.

    Entered once uvicorn accepts connections (a start-up failure raises here, naming ``name``);
    left once it stopped gracefully. ``before_stop`` runs first, start-up failure included:
    whatever would hold the graceful shutdown (requests kept hanging) is released there. The
    yielded task ends only if uvicorn stops by itself. The caller closes ``sock``.
    """
    config = uvicorn.Config(
        app,
        http=http,
        lifespan="off",
        access_log=False,  # it prints query strings, which carry secrets and access tokens
        proxy_headers=proxy_headers,
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        ssl_certfile=None if tls is None else str(tls.certfile),
        ssl_keyfile=None if tls is None else str(tls.keyfile),
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task  # start-up failed: surface its exception
                raise RuntimeError(f"{name} stopped during start-up")
            await asyncio.wait({task}, timeout=0.01)
        yield task
    finally:
        if before_stop is not None:
            await before_stop()
        server.should_exit = True
        await task
