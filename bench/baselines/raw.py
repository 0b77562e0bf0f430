"""Raw baseline: the ceiling of the stack (aiokafka + aiohttp), with nothing the gateway adds.

    python -m bench.baselines.raw --bootstrap H:P --group G --send-topic T --results-topic R
                                  --base-url URL --token TOKEN [--in-flight 64]
                                  [--fetch-wait-ms 50] [--loop uvloop|asyncio]
                                  [--ack-times PATH]
                                  [--state-topic S [--state-ack-times PATH]]
                                  [--burn-us N]

Consume (manual commits) -> POST the v1 ``/send`` with the command's params in the query, up to
``--in-flight`` at once -> produce ``{command_id, status, completed_at}`` (acks=all, as the
gateway does) -> mark the offset done. The highest contiguous done offset of each partition is
committed every 500 ms and on shutdown. No validation, no rate limits, no retries, no ordering.

With ``--state-topic`` it is the *write-ahead* loop: before each call it produces an
``in_progress`` record to that topic (acks=all, no linger, on a producer of its own, to the
command's partition number) and waits for the acknowledgement, the one write the contract
requires before a call. That is the lowest latency any design that records a send before making
it can reach on the same broker and machine: the gateway's latency floor.

``--burn-us N`` spends N microseconds of CPU on the event loop per command, half when it is
taken and half when its answer is in, where the gateway does its own per-command work: the
loop with the gateway's CPU per command and none of its design, to tell the two apart in the
latency the gateway adds (``python -m bench.ab``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.baselines import baseline_parser

__all__ = ["main"]

_COMMIT_EVERY_S = 0.5


class _Offsets:
    """Per partition: the next offset to commit, advanced over contiguous done offsets."""

    def __init__(self) -> None:
        self._next: dict[TopicPartition, int] = {}
        self._done: dict[TopicPartition, set[int]] = {}

    def fetched(self, tp: TopicPartition, offset: int) -> None:
        self._next.setdefault(tp, offset)

    def done(self, tp: TopicPartition, offset: int) -> None:
        done = self._done.setdefault(tp, set())
        done.add(offset)
        nxt = self._next[tp]
        while nxt in done:
            done.discard(nxt)
            nxt += 1
        self._next[tp] = nxt

    def committable(self) -> dict[TopicPartition, int]:
        return dict(self._next)


async def _run(args: argparse.Namespace, stopping: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        args.send_topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=args.fetch_wait_ms,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_interval_ms,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap, acks="all", linger_ms=5, enable_idempotence=False
    )
    # Its own connection, as the gateway's state writes have: a write-ahead record never waits
    # behind a request full of results.
    state_producer = (
        AIOKafkaProducer(
            bootstrap_servers=args.bootstrap, acks="all", linger_ms=0, enable_idempotence=False
        )
        if args.state_topic
        else None
    )
    connector = aiohttp.TCPConnector(limit=args.in_flight)
    session = aiohttp.ClientSession(connector=connector)
    await producer.start()
    if state_producer is not None:
        await state_producer.start()
    await consumer.start()
    offsets = _Offsets()
    slots = asyncio.Semaphore(args.in_flight)
    tasks: set[asyncio.Task[None]] = set()
    url = f"{args.base_url}/send"
    # Each result's time to its acknowledgement: the broker's price of one acknowledged write
    # here, which the gateway pays once more before every call (its in_progress record).
    ack_ms: list[float] = []
    state_ack_ms: list[float] = []

    async def write_ahead(tp: TopicPartition, key: bytes | None, command_id: str) -> None:
        assert state_producer is not None
        record = {"command_id": command_id, "status": "in_progress", "at": time.time()}
        sent = time.perf_counter()
        ack = await state_producer.send(
            args.state_topic, json.dumps(record).encode(), key=key, partition=tp.partition
        )
        await ack
        state_ack_ms.append((time.perf_counter() - sent) * 1000)

    half_burn_s = args.burn_us / 2e6

    def burn() -> None:
        if half_burn_s:
            # CPU time, not wall time: preempted, the loop still owes the rest.
            until = time.thread_time() + half_burn_s
            while time.thread_time() < until:
                pass

    async def handle(
        tp: TopicPartition, offset: int, value: bytes, key: bytes | None, taken: float
    ) -> None:
        try:
            burn()
            command: dict[str, Any] = json.loads(value)
            params = command.get("params") or {}
            query = {
                "instance_id": command["instance_id"],
                "access_token": args.token,
                "chatId": params["chatId"],
                "message": params["message"],
            }
            if state_producer is not None:
                await write_ahead(tp, key, command["id"])
            async with session.post(url, params=query) as response:
                await response.read()
                status = "succeeded" if response.status < 300 else "failed"
            burn()
            result = {
                "command_id": command["id"],
                "status": status,
                "received_at": taken,  # as the gateway's: when the record left getmany
                "completed_at": time.time(),
            }
            sent = time.perf_counter()
            ack = await producer.send(args.results_topic, json.dumps(result).encode(), key=key)
            await ack
            ack_ms.append((time.perf_counter() - sent) * 1000)
            offsets.done(tp, offset)
        finally:
            slots.release()

    async def commit() -> None:
        pending = offsets.committable()
        if pending:
            await consumer.commit(pending)

    last_commit = time.monotonic()
    try:
        while not stopping.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=256)
            taken = time.time()
            for tp, records in batch.items():
                for record in records:
                    offsets.fetched(tp, record.offset)
                    await slots.acquire()  # back-pressure: at most in_flight records held
                    task = asyncio.create_task(
                        handle(tp, record.offset, record.value, record.key, taken)
                    )
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            if time.monotonic() - last_commit >= _COMMIT_EVERY_S:
                await commit()
                last_commit = time.monotonic()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        with contextlib.suppress(Exception):
            await commit()
    finally:
        await consumer.stop()
        await producer.stop()
        if state_producer is not None:
            await state_producer.stop()
        await session.close()
        if args.ack_times is not None:
            args.ack_times.write_text(json.dumps([round(ms, 3) for ms in ack_ms]))
        if args.state_ack_times is not None:
            args.state_ack_times.write_text(json.dumps([round(ms, 3) for ms in state_ack_ms]))


async def _main(args: argparse.Namespace) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await _run(args, stopping)


def main(argv: list[str] | None = None) -> int:
    parser = baseline_parser("python -m bench.baselines.raw")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--heartbeat-interval-ms", type=int, default=500)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--burn-us", type=float, default=0.0, help="CPU spent per command (us)")
    parser.add_argument("--ack-times", type=Path, help="write each result's ack time (ms)")
    parser.add_argument("--state-topic", help="write ahead: an acknowledged record before a call")
    parser.add_argument(
        "--state-ack-times", type=Path, help="write each write-ahead record's ack time (ms)"
    )
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(_main(args))
    else:
        asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
