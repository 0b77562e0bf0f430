"""``build_transport``: the configured HTTP stack (``http_stack``) as an ``HttpTransport``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import structlog

from wawp_gateway.core.sections import HttpStack, WawpSettings
from wawp_gateway.wawp.transports.aiohttp_stack import AiohttpTransport
from wawp_gateway.wawp.transports.base import HttpTransport
from wawp_gateway.wawp.transports.httptools_stack import HttptoolsTransport
from wawp_gateway.wawp.transports.httpx_stack import HttpxTransport

__all__ = ["build_transport", "transport_for"]

log = structlog.get_logger(__name__)


def build_transport(
    stack: HttpStack,
    *,
    max_connections: int,
    connect_timeout_s: float,
    proxy_url: str | None = None,
    ca_file: Path | None = None,
) -> HttpTransport:
    """The process's one transport. Build it once (``app``), close it with ``aclose()``."""
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    if connect_timeout_s <= 0:
        raise ValueError("connect_timeout_s must be positive")
    if stack == "aiohttp":
        return AiohttpTransport(
            max_connections=max_connections,
            connect_timeout_s=connect_timeout_s,
            proxy_url=proxy_url,
            ca_file=ca_file,
        )
    if stack == "httpx":
        return HttpxTransport(
            max_connections=max_connections,
            connect_timeout_s=connect_timeout_s,
            proxy_url=proxy_url,
            ca_file=ca_file,
        )
    if stack == "httptools":
        if proxy_url is not None:
            # The settings refuse this pair already; a direct caller gets the same answer.
            raise ValueError("the httptools stack does not support a proxy")
        return HttptoolsTransport(
            max_connections=max_connections, connect_timeout_s=connect_timeout_s, ca_file=ca_file
        )
    raise ValueError(f"unknown HTTP stack {stack!r}")


def transport_for(settings: WawpSettings) -> HttpTransport:
    """``build_transport`` from the Wawp settings (stack, pool, proxy, CA file); logs
    ``wawp.transport_configured`` with the proxy's host and port only (never its credentials)."""
    proxy = settings.proxy_url
    proxy_at = None
    if proxy is not None:
        parts = urlsplit(proxy.get_secret_value())
        proxy_at = f"{parts.hostname}:{parts.port}"
    log.info(
        "wawp.transport_configured",
        http_stack=settings.http_stack,
        proxy=proxy_at,
        ca_file=None if settings.ca_file is None else str(settings.ca_file),
    )
    return build_transport(
        settings.http_stack,
        max_connections=settings.max_connections,
        connect_timeout_s=settings.connect_timeout_s,
        proxy_url=None if proxy is None else proxy.get_secret_value(),
        ca_file=settings.ca_file,
    )
