"""Embedding uvicorn in a process that owns its signals: the webhook receiver, the sandbox."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator

import uvicorn

__all__ = ["EmbeddedServer", "listening_socket"]


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
