"""``build_transport``: the configured HTTP stack (``http_stack``) as an ``HttpTransport``."""

from __future__ import annotations

from wawp_gateway.core.sections import HttpStack
from wawp_gateway.wawp.transports.aiohttp_stack import AiohttpTransport
from wawp_gateway.wawp.transports.base import HttpTransport
from wawp_gateway.wawp.transports.httptools_stack import HttptoolsTransport
from wawp_gateway.wawp.transports.httpx_stack import HttpxAiohttpTransport, HttpxTransport

__all__ = ["build_transport"]


def build_transport(
    stack: HttpStack, *, max_connections: int, connect_timeout_s: float
) -> HttpTransport:
    """The process's one transport. Build it once (``app``), close it with ``aclose()``."""
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    if connect_timeout_s <= 0:
        raise ValueError("connect_timeout_s must be positive")
    if stack == "aiohttp":
        return AiohttpTransport(
            max_connections=max_connections, connect_timeout_s=connect_timeout_s
        )
    if stack == "httptools":
        return HttptoolsTransport(
            max_connections=max_connections, connect_timeout_s=connect_timeout_s
        )
    if stack == "httpx":
        return HttpxTransport(max_connections=max_connections, connect_timeout_s=connect_timeout_s)
    if stack == "httpx-aiohttp":
        return HttpxAiohttpTransport(
            max_connections=max_connections, connect_timeout_s=connect_timeout_s
        )
    raise ValueError(f"unknown HTTP stack {stack!r}")
