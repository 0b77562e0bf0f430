"""Throughput and client CPU of the three HTTP stacks behind ``HttpTransport``.

    python bench/http_stacks.py [--duration 3] [--warmup 0.5] [--concurrency 1 16 64 256]

A uvicorn + uvloop + httptools server with a raw ASGI app (201 + small JSON) runs in a separate
process, so the numbers are the client's. For each stack, event loop (asyncio, uvloop) and
concurrency, N coroutines each send POSTs shaped like the gateway's (instance_id, access_token,
chatId, message in the query; a small JSON body) back to back for ``--duration`` seconds after
``--warmup``. Reported: requests/s, client CPU seconds per 1,000 requests (``process_time``, all
threads), latency p50/p99, and the server's CPU share (if it nears 100 % the server, not the
client, is the ceiling). ``aiohttp-bare`` is a plain ``ClientSession.post`` without the
transport's trace and error mapping: the overhead of the wrapper. Prints a markdown table and
writes ``bench/results/http_stacks.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import uvloop

from wawp_gateway.wawp.transports.base import HttpRequest
from wawp_gateway.wawp.transports.factory import build_transport

STACKS: tuple[str, ...] = ("aiohttp-bare", "aiohttp", "httptools", "httpx")
LOOPS: tuple[str, ...] = ("asyncio", "uvloop")
RESULTS = Path(__file__).resolve().parent / "results" / "http_stacks.json"
ANSWER = b'{"id":"true_447441429009@c.us_3EB0C767D26A1D3A5E","sent":true}'


# --- server process ------------------------------------------------------------------------


async def _asgi_app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    more = True
    while more:  # drain the request body
        more = (await receive()).get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(ANSWER)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


def _serve() -> None:
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)  # the parent reads the port from here
    config = uvicorn.Config(
        _asgi_app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=4096,
        timeout_keep_alive=60,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# --- client --------------------------------------------------------------------------------


@dataclass
class Row:
    stack: str
    loop: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    req_per_s: float
    cpu_s_per_1k: float
    p50_ms: float
    p99_ms: float
    server_cpu_pct: float


def _request(port: int) -> HttpRequest:
    return HttpRequest(
        method="POST",
        url=f"http://127.0.0.1:{port}/v2/send/text",
        query=(
            ("instance_id", "ABC123DEF456"),
            ("access_token", "e1b6f0a9c2d84b7f9a3c5e7d1f2a4b6c"),
            ("chatId", "447441429009@c.us"),
            ("message", "Your order #42 has shipped"),
        ),
        body=b'{"chatId":"447441429009@c.us","message":"Your order #42 has shipped"}',
        timeout_s=30.0,
    )


async def _sender(stack: str, concurrency: int, port: int, stack_: AsyncExitStack) -> Any:
    request = _request(port)
    if stack == "aiohttp-bare":
        import aiohttp

        session = await stack_.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
        )
        url = request.full_url()
        headers = {"content-type": "application/json"}

        async def bare() -> None:
            async with session.post(url, data=request.body, headers=headers) as response:
                await response.read()

        return bare
    transport = build_transport(
        stack,  # type: ignore[arg-type]
        max_connections=concurrency,
        connect_timeout_s=5.0,
    )
    stack_.push_async_callback(transport.aclose)

    async def wrapped() -> None:
        await transport.send(request)

    return wrapped


async def _measure(
    stack: str, concurrency: int, port: int, server_pid: int, warmup: float, duration: float
) -> Row:
    async with AsyncExitStack() as resources:
        send = await _sender(stack, concurrency, port, resources)
        measuring = False
        stop = False
        latencies: list[float] = []
        counts = [0, 0]  # ok, errors (inside the window)

        async def worker() -> None:
            while not stop:
                start = time.perf_counter()
                try:
                    await send()
                except Exception:
                    if measuring:
                        counts[1] += 1
                    continue
                if measuring:
                    counts[0] += 1
                    latencies.append(time.perf_counter() - start)

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        measuring = True
        cpu0, wall0, srv0 = time.process_time(), time.perf_counter(), _cpu_seconds(server_pid)
        await asyncio.sleep(duration)
        measuring = False
        cpu1, wall1, srv1 = time.process_time(), time.perf_counter(), _cpu_seconds(server_pid)
        stop = True
        await asyncio.gather(*workers)

    ok, errors = counts
    seconds = wall1 - wall0
    latencies.sort()
    return Row(
        stack=stack,
        loop="",
        concurrency=concurrency,
        requests=ok,
        errors=errors,
        seconds=round(seconds, 3),
        req_per_s=round(ok / seconds, 1),
        cpu_s_per_1k=round((cpu1 - cpu0) / ok * 1000, 4) if ok else float("nan"),
        p50_ms=round(statistics.median(latencies) * 1000, 2) if latencies else float("nan"),
        p99_ms=round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else 0.0,
        server_cpu_pct=round((srv1 - srv0) / seconds * 100, 1),
    )


def _run(
    stack: str, loop: str, concurrency: int, port: int, pid: int, warmup: float, duration: float
) -> Row:
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        row = runner.run(_measure(stack, concurrency, port, pid, warmup, duration))
    row.loop = loop
    return row


def _table(rows: list[Row]) -> str:
    lines = [
        "| stack | loop | in flight | req/s | CPU s / 1k req | p50 ms | p99 ms | server CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.stack} | {r.loop} | {r.concurrency} | {r.req_per_s:,.0f} | {r.cpu_s_per_1k:.3f} "
        f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.server_cpu_pct:.0f} |"
        + (f" errors: {r.errors}" if r.errors else "")
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--stacks", nargs="+", default=list(STACKS), choices=STACKS)
    parser.add_argument("--loops", nargs="+", default=list(LOOPS), choices=LOOPS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.serve:
        _serve()
        return

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        _wait_ready(port)
        rows: list[Row] = []
        for stack in args.stacks:
            for loop in args.loops:
                for concurrency in args.concurrency:
                    row = _run(
                        stack, loop, concurrency, port, server.pid, args.warmup, args.duration
                    )
                    rows.append(row)
                    print(
                        f"{stack:14} {loop:8} {concurrency:4} {row.req_per_s:9,.0f} req/s "
                        f"{row.cpu_s_per_1k:.3f} cpu-s/1k server {row.server_cpu_pct:.0f}%",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(_table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "versions": {
                        name: metadata.version(name)
                        for name in ("aiohttp", "httpx", "httptools", "uvloop", "uvicorn")
                    },
                },
                "server": "uvicorn + uvloop + httptools, raw ASGI, 201 JSON, separate process",
                "warmup_s": args.warmup,
                "duration_s": args.duration,
                "rows": [asdict(row) for row in rows],
            },
            indent=2,
        )
        + "\n"
    )


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # polling a child process's readiness, not a test


if __name__ == "__main__":
    main()
