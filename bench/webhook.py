"""The webhook receiver's throughput against a bare ASGI endpoint, each in its own process.

    python -m bench.webhook serve --port P          # the bare endpoint (200 ``{}`` to any POST)
    python -m bench.webhook serve --port P --publish-to TOPIC --bootstrap B
                                                    # the floor: publish the body, then 200
    python -m bench.webhook load --url U --count N --out F [--concurrency 64] [--prefix X]

``serve`` runs uvicorn with the receiver's own settings (lifespan off, access log off, proxy
headers off, the same loop and HTTP implementation: uvicorn's ``auto``), so the servers differ
only in the app. With ``--publish-to`` it is the floor of any receiver on this stack: each body
published through the receiver's own ``KeyedPublisher`` (acks=all, coalesced) and answered once
acknowledged, with no parsing, authentication or de-duplication. ``load``
is the load client: ``--concurrency`` keep-alive connections on bare asyncio protocols (uvloop),
each posting pre-encoded ``message.ack`` envelopes with unique ids back to back, one in flight
per connection; no HTTP library, so that the client's CPU stays well under a core while the
server is the one working. It writes JSON (requests/s, status counts, its own CPU seconds) to
``--out``. ``bench.scenarios.webhook`` drives the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

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
    if await _body(receive) is not None:  # read the whole body, as the receiver does
        await _answer(send)


async def _body(receive: Callable[[], Awaitable[Message]]) -> bytes | None:
    """The request body; None when the client went away."""
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _publishing_app(bootstrap: str, topic: str, client: str) -> Callable[..., Awaitable[None]]:
    from bench.confluent_publisher import ConfluentPublisher
    from wawp_gateway.core.coalesce import KeyedPublisher
    from wawp_gateway.core.kafka import build_producer
    from wawp_gateway.core.sections import KafkaSettings

    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    publishers: list[KeyedPublisher | ConfluentPublisher] = []
    starting = asyncio.Lock()

    async def publisher() -> KeyedPublisher | ConfluentPublisher:
        # uvicorn runs with lifespan off, as the receiver does: start with the first post
        async with starting:
            if not publishers and client == "confluent":
                publishers.append(ConfluentPublisher(kafka, timeout_s=10))
            elif not publishers:
                producer = build_producer(kafka, linger_ms=0)
                await producer.start()
                publishers.append(KeyedPublisher(producer))
        return publishers[0]

    async def app(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        publish = publishers[0] if publishers else await publisher()
        body = await _body(receive)
        if body is not None:
            await publish(topic, INSTANCE.encode(), body, [])
            await _answer(send)

    return app


async def _answer(send: Callable[[Message], Awaitable[None]]) -> None:
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


def _serve(
    host: str, port: int, bootstrap: str | None, topic: str | None, client: str = "aiokafka"
) -> None:
    import uvicorn

    app = (
        bare_app
        if topic is None or bootstrap is None
        else _publishing_app(bootstrap, topic, client)
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)  # as core.serving.listening_socket
    sock.setblocking(False)
    config = uvicorn.Config(
        app,
        lifespan="off",
        access_log=False,
        proxy_headers=False,
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


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight, the next written when its answer ends.

    Requests are pre-encoded; answers are split on the header end and ``content-length`` (which
    both servers send), so the client spends its CPU on sockets, not on an HTTP library.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._queue: deque[bytes] = deque()
        self._tally: Counter[str] = Counter()
        self._done: asyncio.Future[None] | None = None
        self._in_flight = False

    def start(self, queue: deque[bytes], tally: Counter[str], done: asyncio.Future[None]) -> None:
        self._queue, self._tally, self._done = queue, tally, done
        self._next()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; the interface is the same
        self._transport = cast(asyncio.Transport, transport)

    def _finish(self) -> None:
        self._in_flight = False
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _next(self) -> None:
        if not self._queue or self._transport is None or self._transport.is_closing():
            self._finish()
            return
        self._in_flight = True
        self._transport.write(self._queue.popleft())

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (head_end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:head_end].lower()
            marker = head.find(b"content-length:")
            if marker < 0:
                raise RuntimeError(f"answer without content-length: {head[:200]!r}")
            line_end = head.find(b"\r\n", marker)
            length = int(head[marker + 15 : line_end if line_end >= 0 else len(head)])
            end = head_end + 4 + length
            if len(self._buffer) < end:
                return
            self._tally[head[9:12].decode()] += 1
            self._buffer = self._buffer[end:]
            self._next()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._in_flight:
            self._tally["client_error"] += 1
        self._transport = None
        self._finish()


class _Pool:
    """``concurrency`` connections opened once (outside the timed window) and reused."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._head = (
            f"POST {target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            "content-type: application/json\r\ncontent-length: "
        ).encode()
        self._connections: list[_Connection] = []

    def encode(self, bodies: list[bytes]) -> list[bytes]:
        return [self._head + str(len(b)).encode() + b"\r\n\r\n" + b for b in bodies]

    async def open(self, concurrency: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(concurrency):
            _transport, protocol = await loop.create_connection(_Connection, self.host, self.port)
            self._connections.append(protocol)

    async def run(self, requests: list[bytes], tally: Counter[str]) -> None:
        loop = asyncio.get_running_loop()
        queue = deque(requests)
        waits: list[asyncio.Future[None]] = []
        for connection in self._connections:
            done: asyncio.Future[None] = loop.create_future()
            waits.append(done)
            connection.start(queue, tally, done)
        await asyncio.gather(*waits)
        if queue:
            tally["client_error"] += len(queue)  # every connection was lost before the end

    def close(self) -> None:
        for connection in self._connections:
            connection.close()


async def _load(
    url: str, count: int, concurrency: int, prefix: str, warmup: int, watch: dict[str, int]
) -> LoadResult:
    pool = _Pool(url)
    requests = pool.encode([envelope(prefix, i) for i in range(warmup + count)])
    await pool.open(concurrency)
    try:
        warm: Counter[str] = Counter()
        await pool.run(requests[:warmup], warm)  # start-up paths of both sides warmed
        statuses: Counter[str] = Counter()
        watched0 = _cpu(watch)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await pool.run(requests[warmup:], statuses)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        watched1 = _cpu(watch)
    finally:
        pool.close()
    errors = statuses.pop("client_error", 0)
    return LoadResult(
        requests=count,
        seconds=round(seconds, 3),
        req_per_s=round(count / seconds, 1) if seconds > 0 else 0.0,
        statuses=dict(statuses),
        errors=errors,
        cpu_s=round(cpu, 3),
        cpu_s_total=round(time.process_time(), 3),
        warmup=warmup,
        warmup_statuses=dict(warm),
        watched_cpu_s={name: round(watched1[name] - watched0[name], 3) for name in watch},
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--bootstrap", help="with --publish-to: the broker")
    serve.add_argument("--publish-to", help="publish each body to this topic (the floor)")
    serve.add_argument("--client", choices=("aiokafka", "confluent"), default="aiokafka")
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
        _serve(args.host, args.port, args.bootstrap, args.publish_to, args.client)
        return
    import uvloop

    watch = {name: int(pid) for name, pid in (w.split("=", 1) for w in args.watch)}
    result = uvloop.run(
        _load(args.url, args.count, args.concurrency, args.prefix, args.warmup, watch)
    )
    args.out.write_text(json.dumps(asdict(result)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
