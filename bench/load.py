"""The load client: publishes a workload's commands, as fast as it can or at a paced rate.

    python -m bench.load --bootstrap HOST:PORT --topic T [--topic T2] --workload JSON
                         [--rate R] [--times FILE] [--report FILE]

Runs as its own process so its CPU is its own. Keys are instance ids, so the default (murmur2)
partitioner puts each command on the partition the gateway expects. With ``--rate`` each
command is stamped (wall clock, ``created_at`` and ``--times``) just before it is handed to the
producer; with no rate the commands form a backlog and the stamps do not matter. Prints one
JSON line: published count, elapsed and CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bench.workload import Workload

__all__ = ["main", "publish"]

_BACKLOG_CHUNK = 2000


async def publish(
    bootstrap: str, topics: list[str], workload: Workload, rate: float
) -> tuple[int, list[float]]:
    paced = rate > 0
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        # Paced: 1 ms batching (the same for every system: it spares the shared broker one
        # produce request per command on this 2-core machine). Backlog: big batches.
        linger_ms=1 if paced else 20,
        max_batch_size=16384 if paced else 262144,
        enable_idempotence=False,
    )
    await producer.start()
    stamps = [0.0] * workload.total
    pending: list[asyncio.Future[object]] = []
    published = 0
    try:
        start = time.monotonic() + 0.05
        for command in workload.commands():
            if paced:
                due = start + command.seq / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing the load, not waiting for readiness
            stamp = time.time()
            stamps[command.seq] = stamp
            value = command.to_json(stamp)
            key = command.instance_id.encode()
            for topic in topics:
                pending.append(await producer.send(topic, value, key=key))
                published += 1
            if len(pending) >= _BACKLOG_CHUNK:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return published, stamps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", action="append", required=True)
    parser.add_argument("--workload", required=True, help="Workload as JSON")
    parser.add_argument("--rate", type=float, default=0.0, help="commands/s; 0 = backlog")
    parser.add_argument("--times", type=Path, help="write publish times (epoch s) by seq")
    parser.add_argument("--report", type=Path, help="write the JSON report here too")
    args = parser.parse_args(argv)
    workload = Workload.from_json(args.workload)
    started = time.monotonic()
    published, stamps = asyncio.run(publish(args.bootstrap, args.topic, workload, args.rate))
    elapsed = time.monotonic() - started
    if args.times is not None:
        args.times.write_text(json.dumps(stamps))
    report = {"published": published, "elapsed_s": elapsed, "cpu_s": time.process_time()}
    print(json.dumps(report), flush=True)
    if args.report is not None:
        args.report.write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
