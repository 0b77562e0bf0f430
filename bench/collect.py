"""The result collector, and the numbers made from what it collected.

It reads a system's results topic from the beginning without a consumer group (manual
assignment: no group join to wait for) and keeps, per command id, the first result: its status,
the system's ``completed_at`` and the wall-clock time the collector received it. Duplicates are
counted, never merged silently. It runs in the harness process; its CPU is the harness's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["Collector", "Received", "percentile", "summarize_latency", "throughput"]


@dataclass(frozen=True, slots=True)
class Received:
    command_id: str
    status: str
    completed_at: float  # the system's clock, epoch seconds
    received_at: float  # the collector's clock, epoch seconds
    error_code: str | None
    attempts: int | None
    taken_at: float | None = None  # the system's clock when it got the command (if it says)


def _epoch(value: Any, fallback: float) -> float:
    # The gateway writes RFC 3339 strings; the baselines write epoch seconds.
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value).timestamp()
    return fallback


class Collector:
    def __init__(
        self, bootstrap: str, topic: str, partitions: int, *, id_field: str = "command_id"
    ) -> None:
        self._topic = topic
        self._id_field = id_field  # "id" to read commands (dead letters carry the command)
        self._partitions = partitions
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Low, so the receive time is close to the result's arrival (a fetch is held about
            # fetch_max_wait_ms on the embedded broker: docs/embedded-broker.md).
            fetch_max_wait_ms=10,
        )
        self.results: dict[str, Received] = {}
        self.duplicates: Counter[str] = Counter()
        self.on_first: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.assign([TopicPartition(self._topic, p) for p in range(self._partitions)])
        await self._consumer.seek_to_beginning()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for record in records:
                    self._take(record.value, now)

    def _take(self, value: bytes | None, now: float) -> None:
        try:
            data = json.loads(value or b"")
            command_id = str(data[self._id_field])
        except (ValueError, KeyError, TypeError):
            return  # not a result of ours; never happens on a private topic
        if command_id in self.results:
            self.duplicates[command_id] += 1
            return
        error = data.get("error") or {}
        self.results[command_id] = Received(
            command_id=command_id,
            status=str(data.get("status")),
            completed_at=_epoch(data.get("completed_at"), now),
            received_at=now,
            error_code=error.get("code") if isinstance(error, dict) else None,
            attempts=data.get("attempts"),
            taken_at=_epoch(data["received_at"], now) if data.get("received_at") else None,
        )
        if len(self.results) == 1 and self.on_first is not None:
            self.on_first()

    def count(self, prefix: str) -> int:
        return sum(1 for cid in self.results if cid.startswith(prefix))

    def of(self, prefix: str) -> list[Received]:
        return [r for cid, r in self.results.items() if cid.startswith(prefix)]


def throughput(results: Iterable[Received]) -> dict[str, float]:
    """count / (last completed_at - first completed_at): the systems' own completion clock
    (the same machine's wall clock for every system)."""
    times = sorted(r.completed_at for r in results)
    if len(times) < 2:
        return {"count": len(times), "window_s": 0.0, "per_s": 0.0}
    window = times[-1] - times[0]
    return {
        "count": len(times),
        "window_s": round(window, 3),
        "per_s": round(len(times) / window, 1) if window > 0 else math.inf,
    }


def live_rate(published: list[float], completed: list[float], skip_s: float) -> float:
    """Completions per second while the load client was still publishing, from ``skip_s``
    after its first record to its last: what a system keeps up with while commands keep
    arriving (on a shared machine, less than it drains from a backlog with the client done)."""
    if not published:
        return 0.0
    start, end = min(published) + skip_s, max(published)
    if end <= start:
        return 0.0
    return sum(1 for at in completed if start <= at <= end) / (end - start)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[rank - 1]


def summarize_latency(samples_ms: list[float]) -> dict[str, float]:
    values = sorted(samples_ms)
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(values[-1], 2) if values else math.nan,
    }
