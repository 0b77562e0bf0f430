"""The Wawp sandbox as a benchmark process: ``python -m bench.sandbox_server``.

The same simulator as ``wawp-gateway sandbox``, with two differences the harness needs: it
binds port 0 and prints the URL it got (no port probing race), and it runs on uvloop, so that
at 0 ms latency the simulator is as far as possible from being the bottleneck. Instances, faults
and latency are set through the admin API (``bench.sandbox.SandboxClient``).
"""

from __future__ import annotations

import asyncio
import signal
import sys

import uvloop

from wawp_gateway.core.logs import configure_logging
from wawp_gateway.core.sections import LogSettings
from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox

__all__ = ["main"]


async def _serve() -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    sandbox = Sandbox(SandboxConfig())
    async with running_sandbox(sandbox, "127.0.0.1", 0) as url:
        print(url, flush=True)  # the harness reads the first line
        await stopping.wait()


def main() -> int:
    configure_logging(LogSettings(level="warning", format="json"))
    uvloop.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
