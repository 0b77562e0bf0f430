"""The HTTP side of a long-running process: ``/metrics``, ``/healthz`` and ``/readyz``.

``/metrics`` answers in OpenMetrics when the scraper asks for it (``Accept:
application/openmetrics-text``, as Prometheus does with exemplar storage on): only that format
carries the latency histograms' exemplars (trace ids, docs/tracing.md). Otherwise, the
Prometheus text format.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = ["metrics_payload", "serve_probes"]

log = structlog.get_logger(__name__)


def metrics_payload(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """The exposition of ``registry`` in the format ``accept`` asks for, and its content type."""
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


def _app(registry: CollectorRegistry, is_ready: Callable[[], bool]) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        body, content_type = metrics_payload(registry, request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        ready = is_ready()
        return web.json_response(
            {"status": "ready" if ready else "not_ready"}, status=200 if ready else 503
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


@asynccontextmanager
async def serve_probes(
    registry: CollectorRegistry, host: str, port: int, is_ready: Callable[[], bool]
) -> AsyncIterator[int]:
    """Serve until the block ends; yields the bound port (``port=0`` picks a free one)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
    # Binding ourselves is how `port=0` tells us which port it got.
    bound = int(sock.getsockname()[1])
    runner = web.AppRunner(_app(registry, is_ready), access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    log.info("metrics.listening", host=host, port=bound)
    try:
        yield bound
    finally:
        await runner.cleanup()
