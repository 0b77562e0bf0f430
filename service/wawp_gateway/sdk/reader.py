"""Reading every partition of some topics outside any consumer group, from a chosen start.

Readers never commit and never join a group: a producer waiting for its results must not take
partitions away from anyone, and must not miss what arrives while a group would rebalance.

Where to start: ``"end"`` (what arrives from now on), ``"beginning"``, or a ``datetime`` (records
from that time on). The time is found by a binary search over record timestamps rather than
``offsets_for_times``, which the embedded broker does not implement; ``end_offsets`` may answer
a little early there (docs/embedded-broker.md), so "end" can repeat a few earlier records, never
skip one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError

from wawp_gateway.core.rewind import first_offset_since, partition_reader
from wawp_gateway.sdk.errors import UnknownTopic

__all__ = ["Record", "RecordSource", "Start", "TopicReader"]

Start = datetime | Literal["beginning", "end"]


class Record(Protocol):
    """What the SDK reads from an aiokafka ``ConsumerRecord``."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class RecordSource(Protocol):
    """What waiters and subscriptions read from (``TopicReader``, or a fake in tests)."""

    async def start(self) -> None: ...

    async def fetch(self, timeout_ms: int = 500) -> list[Record]: ...

    async def stop(self) -> None: ...


class TopicReader:
    """A started consumer assigned every partition of ``topics``, positioned at ``start``."""

    def __init__(self, consumer: AIOKafkaConsumer, topics: Sequence[str], start: Start) -> None:
        self._consumer = consumer
        self._topics = tuple(topics)
        self._start = start
        self._since_ms: int | None = None
        self._started = False
        self._stopped = False

    async def start(self) -> None:
        await self._consumer.start()
        self._started = True
        try:
            partitions: list[TopicPartition] = []
            for topic in self._topics:
                found = self._consumer.partitions_for_topic(topic)
                if not found:
                    raise UnknownTopic(topic)
                partitions.extend(TopicPartition(topic, p) for p in sorted(found))
            self._consumer.assign(partitions)
            await self._position(partitions)
        except BaseException:
            await self.stop()
            raise

    async def _position(self, partitions: list[TopicPartition]) -> None:
        if self._start == "beginning":
            await self._consumer.seek_to_beginning(*partitions)
            return
        ends = await self._consumer.end_offsets(partitions)
        if self._start == "end":
            for tp in partitions:
                self._consumer.seek(tp, ends[tp])
            return
        since_ms = int(self._start.timestamp() * 1000)
        lows = await self._consumer.beginning_offsets(partitions)
        for tp in partitions:
            read_at = partition_reader(self._consumer, tp)
            # Searched up to the reported end, read to the real one: records past the search
            # are filtered by time in fetch().
            start = await first_offset_since(read_at, lows[tp], ends[tp], since_ms)
            self._consumer.seek(tp, start)
        self._since_ms = since_ms

    async def fetch(self, timeout_ms: int = 500) -> list[Record]:
        """The next records (in order within each partition); empty after ``timeout_ms``."""
        try:
            batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        except ConsumerStoppedError:
            return []  # stopped from another task: the caller sees it is closed
        records: list[Record] = [record for found in batch.values() for record in found]
        if self._since_ms is not None:
            records = [r for r in records if r.timestamp >= self._since_ms]
        return records

    async def stop(self) -> None:
        if self._started and not self._stopped:
            self._stopped = True
            # aiokafka's group-less consumer starts a task it cancels and awaits on stop; one
            # cancelled before its first step raises CancelledError into the caller. A stop
            # right after start (an unknown topic) must let it take that step first.
            await asyncio.sleep(0)
            await self._consumer.stop()
