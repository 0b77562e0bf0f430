"""The webhook receiver's throughput against a bare ASGI endpoint, each in its own process.

    python -m bench.webhook serve --port P          # the bare endpoint (200 ``{}`` to any POST)
    python -m bench.webhook load --url U --count N --out F [--concurrency 64] [--prefix X]

``serve`` runs uvicorn with the receiver's own settings (lifespan off, access log off, the same
loop and HTTP implementation: uvicorn's ``auto``), so the two differ only in the app. ``load``
is the load client: aiohttp with keep-alive, ``--concurrency`` coroutines posting ``--count``
``message.ack`` envelopes with unique ids back to back; it writes JSON (requests/s, status
counts, its own CPU seconds) to ``--out``. ``measure_webhook`` drives one round of either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["LoadResult", "envelope", "main"]

Message = MutableMapping[str, Any]
INSTANCE = "ABC123DEF456"
_ANSWER = b"{}"


# --- the bare endpoint -----------------------------------------------------------------------


async def bare_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the whole body, as the receiver does
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_ANSWER)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _ANSWER})


def _serve(host: str, port: int) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)  # as the receiver's _bind
    sock.setblocking(False)
    config = uvicorn.Config(
        bare_app,
        lifespan="off",
        access_log=False,
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run(sockets=[sock])


# --- the load client -------------------------------------------------------------------------


def envelope(prefix: str, seq: int) -> bytes:
    """A Wawp ``message.ack`` callback as it arrives: unique ``id`` per post."""
    now_ms = int(time.time() * 1000)
    msg_id = f"true_447441429009@c.us_3EB0{uuid.uuid4().hex[:16].upper()}"
    return json.dumps(
        {
            "id": f"evt_{prefix}_{seq:08d}",
            "timestamp": now_ms,
            "event": "message.ack",
            "session": INSTANCE,
            "me": {"id": "447700900123@c.us", "pushName": "Acme Shop"},
            "payload": {
                "id": msg_id,
                "from": "447700900123@c.us",
                "to": "447441429009@c.us",
                "participant": None,
                "fromMe": True,
                "ack": 3,
                "ackName": "READ",
                "timestamp": now_ms // 1000,
                "_data": {"ack": 3, "type": "chat"},
            },
            "engine": "WEBJS",
            "environment": {"version": "2024.10.1", "engine": "WEBJS", "tier": "PLUS"},
        },
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    req_per_s: float
    statuses: dict[str, int]
    errors: int
    cpu_s: float  # the client's own (process_time, all threads) during the timed posts
    cpu_s_total: float  # including start-up, imports and warm-up
    warmup: int
    warmup_statuses: dict[str, int]
    watched_cpu_s: dict[str, float]  # CPU of the --watch processes during the timed posts


def _cpu(watch: dict[str, int]) -> dict[str, float]:
    from bench.harness import cpu_seconds

    return {name: cpu_seconds(pid) or 0.0 for name, pid in watch.items()}


async def _load(
    url: str, count: int, concurrency: int, prefix: str, warmup: int, watch: dict[str, int]
) -> LoadResult:
    import aiohttp

    bodies = [envelope(prefix, i) for i in range(warmup + count)]
    statuses: Counter[str] = Counter()
    errors = 0
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(body: bytes) -> None:
            nonlocal errors
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except aiohttp.ClientError:
                errors += 1

        async def worker(queue: list[bytes]) -> None:
            while queue:
                await post(queue.pop())

        async def run(batch: list[bytes]) -> None:
            queue = list(reversed(batch))
            await asyncio.gather(*(worker(queue) for _ in range(concurrency)))

        await run(bodies[:warmup])  # opens the connections; not timed
        warmup_statuses = {**statuses, **({"client_error": errors} if errors else {})}
        statuses.clear()
        errors = 0
        watched0 = _cpu(watch)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await run(bodies[warmup:])
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        watched1 = _cpu(watch)
    return LoadResult(
        requests=count,
        seconds=round(seconds, 3),
        req_per_s=round(count / seconds, 1) if seconds > 0 else 0.0,
        statuses=dict(statuses),
        errors=errors,
        cpu_s=round(cpu, 3),
        cpu_s_total=round(time.process_time(), 3),
        warmup=warmup,
        warmup_statuses=warmup_statuses,
        watched_cpu_s={name: round(watched1[name] - watched0[name], 3) for name in watch},
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, required=True)
    load = sub.add_parser("load")
    load.add_argument("--url", required=True)
    load.add_argument("--count", type=int, required=True)
    load.add_argument("--concurrency", type=int, default=64)
    load.add_argument("--warmup", type=int, default=500)
    load.add_argument("--prefix", default=uuid.uuid4().hex[:8])
    load.add_argument("--out", type=Path, required=True)
    load.add_argument("--watch", action="append", default=[], help="name=pid, CPU read around")
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        _serve(args.host, args.port)
        return
    import uvloop

    watch = {name: int(pid) for name, pid in (w.split("=", 1) for w in args.watch)}
    result = uvloop.run(
        _load(args.url, args.count, args.concurrency, args.prefix, args.warmup, watch)
    )
    args.out.write_text(json.dumps(asdict(result)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
