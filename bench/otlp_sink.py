"""An OTLP/HTTP trace receiver as a benchmark process: ``python -m bench.otlp_sink``.

Accepts ``POST /v1/traces`` and answers an empty ``ExportTraceServiceResponse`` without decoding
the payload: it stands for a collector, so that the gateway's cost of exporting its spans is
measured, not the receiver's. Binds port 0 and prints its URL (the harness reads the first line);
on SIGTERM it prints the requests and bytes it took.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import uvloop
from aiohttp import web

from bench.harness import Proc, ProcessGroup
from bench.sandbox import read_url

__all__ = ["main", "start_otlp_sink"]


async def _serve() -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    took = {"requests": 0, "bytes": 0}

    async def traces(request: web.Request) -> web.Response:
        took["requests"] += 1
        took["bytes"] += len(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    try:
        await stopping.wait()
    finally:
        await runner.cleanup()
        print(f"otlp-sink requests={took['requests']} bytes={took['bytes']}", flush=True)


def main() -> int:
    uvloop.run(_serve())
    return 0


def start_otlp_sink(group: ProcessGroup, timeout_s: float = 30.0) -> tuple[Proc, str]:
    """Start the sink in ``group``; its process and URL."""
    return read_url(group, "otlp-sink", [sys.executable, "-m", "bench.otlp_sink"], timeout_s)


if __name__ == "__main__":
    sys.exit(main())
