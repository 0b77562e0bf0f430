"""The Kafka side: read every dead letter, read one, publish a replay plan at a rate."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.kafka import (
    build_producer,
    build_reader,
    start_client,
    topic_partitions,
)
from wawp_gateway.core.sections import KafkaSettings
from wawp_gateway.dlqtool.plan import ReplayPlan, replay_burst
from wawp_gateway.dlqtool.records import DlqRecord
from wawp_gateway.dlqtool.render import ReplayReport, thousands
from wawp_gateway.worker.ratelimit import TokenBucket


class Progress:
    """A bar redrawn in place on a terminal; elsewhere (logs, pipes) a line every few seconds."""

    _BAR = 30

    def __init__(
        self, total: int, out: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._total = total
        self._out = out or sys.stderr
        self._tty = self._out.isatty()
        self._clock = clock
        self._started = clock()
        self._shown_at = -math.inf
        self._interval = 0.1 if self._tty else 5.0

    def update(self, done: int, *, final: bool = False) -> None:
        now = self._clock()
        if not final and now - self._shown_at < self._interval:
            return
        self._shown_at = now
        elapsed = max(now - self._started, 1e-9)
        share = done / self._total if self._total else 1.0
        rate = done / elapsed
        if self._tty:
            filled = round(share * self._BAR)
            bar = "#" * filled + "-" * (self._BAR - filled)
            end = "\n" if final else ""
            counts = f"{thousands(done)}/{thousands(self._total)}"
            self._out.write(f"\r[{bar}] {counts} {share:4.0%} {rate:,.0f}/s{end}")
        else:
            counts = f"{thousands(done)}/{thousands(self._total)}"
            self._out.write(f"replayed {counts} ({share:.0%}), {rate:,.0f}/s\n")
        self._out.flush()


def _record_of(message: Any) -> DlqRecord:
    return DlqRecord.from_parts(
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=message.timestamp,
        key=message.key,
        value=message.value,
        headers=message.headers or (),
    )


async def _reader(kafka: KafkaSettings, topic: str) -> tuple[AIOKafkaConsumer, set[int]]:
    """A started group-less consumer and the partitions of ``topic`` (which must exist)."""
    consumer = build_reader(kafka)
    try:
        await start_client(consumer, kafka)
    except KafkaError:
        await consumer.stop()
        raise
    # Let the consumer's own background task start: stopped before it ever ran, aiokafka's
    # stop() raises CancelledError (a missing topic stops it at once).
    await asyncio.sleep(0)
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer.stop()
        raise ConfigError("--topic", f"topic {topic!r} does not exist")
    return consumer, set(partitions)


async def read_dlq(kafka: KafkaSettings, topic: str, *, timeout_s: float) -> list[DlqRecord]:
    """Every record of every partition of ``topic`` up to the high watermark the first fetch of
    that partition reported (records dead-lettered while reading are left for the next run)."""
    consumer, partitions = await _reader(kafka, topic)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[TopicPartition, int] = {}
        records: list[DlqRecord] = []
        pending = set(tps)
        async with asyncio.timeout(timeout_s):
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=200, max_records=10_000)
                for tp in list(pending):
                    if tp not in ends:
                        highwater = consumer.highwater(tp)
                        if highwater is None:
                            continue  # no fetch answered for it yet
                        ends[tp] = highwater
                    end = ends[tp]
                    records.extend(_record_of(m) for m in batch.get(tp, ()) if m.offset < end)
                    if await consumer.position(tp) >= end:
                        pending.discard(tp)
        return records
    finally:
        await consumer.stop()


async def read_one(
    kafka: KafkaSettings, topic: str, partition: int, offset: int, *, timeout_s: float
) -> DlqRecord | None:
    """The record at ``partition:offset``, or None when there is none."""
    consumer, partitions = await _reader(kafka, topic)
    try:
        if partition not in partitions:
            return None
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        async with asyncio.timeout(timeout_s):
            while True:
                batch = await consumer.getmany(tp, timeout_ms=200, max_records=1)
                for message in batch.get(tp, ()):
                    return _record_of(message) if message.offset == offset else None
                highwater = consumer.highwater(tp)
                if highwater is not None and highwater <= offset:
                    return None
    finally:
        await consumer.stop()


async def publish(
    kafka: KafkaSettings,
    plan: ReplayPlan,
    *,
    rate: float | None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayReport:
    """Publish ``plan``'s records in order, at most ``rate`` a second (None: unpaced), each
    acknowledged by every in-sync replica. Stops sending after the first failed publish."""
    report = ReplayReport(planned=len(plan.replays))
    if not plan.replays:
        return report
    targets = sorted({replay.topic for replay in plan.replays})
    existing = await topic_partitions(kafka, targets)
    missing = [t for t in targets if t not in existing]
    if missing:
        raise ConfigError("dlq replay", f"target topic(s) do not exist: {', '.join(missing)}")
    producer = build_producer(kafka)
    try:
        await start_client(producer, kafka)
    except KafkaError:
        await producer.stop()
        raise
    started = clock()
    bucket = TokenBucket(rate * 60, replay_burst(rate), started, full=True) if rate else None
    acked: list[asyncio.Future[Any]] = []
    failing = asyncio.Event()

    def settled(future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            failing.set()
            exc = future.exception() if not future.cancelled() else None
            report.failed += 1
            report.errors[type(exc).__name__ if exc else "cancelled"] += 1
        else:
            report.published += 1
        if progress is not None:
            progress.update(report.published + report.failed)

    try:
        for index, replay in enumerate(plan.replays):
            if failing.is_set():
                report.not_attempted = len(plan.replays) - index
                break
            if bucket is not None:
                now = clock()
                wait = bucket.wait_time(now)
                if wait > 0:
                    await asyncio.sleep(wait)
                bucket.take(max(clock(), now + wait))
            try:
                future = await producer.send(
                    replay.topic,
                    replay.record.value,
                    key=replay.key,
                    headers=list(replay.headers),
                )
            except KafkaError as exc:
                report.failed += 1
                report.errors[type(exc).__name__] += 1
                failing.set()
                continue
            future.add_done_callback(settled)
            acked.append(future)
        await asyncio.gather(*acked, return_exceptions=True)
    finally:
        await producer.stop()
    report.seconds = clock() - started
    if progress is not None:
        progress.update(report.published + report.failed, final=True)
    return report
