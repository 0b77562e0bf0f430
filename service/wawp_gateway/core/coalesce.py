"""Acknowledged writes to one topic, coalesced per partition into ``send_batch`` calls.

The records written while a partition's previous batch waits to leave go out together as the
next. A record then costs an append to a batch (aiokafka's C builder) instead of a ``send`` of
its own (futures, accumulator, one more produce request), and a batch's size follows the load
with no lingering. Used for ``wawp.state`` by the worker and for ``wawp.events`` by the webhook
receiver, where every writer waits for its own acknowledgement.

aiokafka keeps one produce request in flight per broker and puts at most one batch per
partition in it. So a partition's next batch is built as soon as its previous one left in a
request, not once that request was answered: it is then queued when the answer comes and goes
out in the very next request. (Built after the answer, it missed that request, already sent
with the other partitions' batches, and waited for one more round trip.) Batches of a partition
leave in the order they were handed over, which keeps a key's records in the order written.

A writer may spread its partitions over several producers (partition ``p`` always through
``producers[p % n]``): each is one connection with one request in flight, so a partition's batch
need not wait for the answer to a request carrying other partitions' records.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from wawp_gateway.core.partitioning import partition_for

__all__ = ["CoalescingWriter", "Headers", "KeyedPublisher"]

Headers = Sequence[tuple[str, bytes]]
_Pending = tuple[bytes | None, bytes | None, Headers, asyncio.Future[None]]


class CoalescingWriter:
    """``write(partition, key, value)`` returns once the broker acknowledged the record."""

    def __init__(self, producers: Sequence[AIOKafkaProducer], topic: str) -> None:
        if not producers:
            raise ValueError("a CoalescingWriter needs at least one producer")
        self._producers = tuple(producers)
        self.topic = topic
        self._pending: dict[int, list[_Pending]] = {}
        self._busy: set[int] = set()
        self._sending: set[asyncio.Task[None]] = set()

    async def write(
        self, partition: int, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> None:
        await self.submit(partition, key, value, headers)

    def producer_of(self, partition: int) -> AIOKafkaProducer:
        return self._producers[partition % len(self._producers)]

    def submit(
        self, partition: int, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> asyncio.Future[None]:
        """The record's acknowledgement, as a future. A writer may give up on it (set it
        itself): a record given up before its batch was built is not sent; once sent, the
        answer that comes later is dropped."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        pending = self._pending.get(partition)
        if pending is None:
            pending = self._pending[partition] = []
            if partition not in self._busy:
                # The task's first step runs after this loop turn's callbacks: what other
                # writers add meanwhile joins the batch. (Scheduling the flush itself for later
                # cost one more turn of a busy loop before every batch.)
                self._flush(partition)
        # aiokafka's C batch builder takes headers as a list only
        pending.append((key, value, headers if isinstance(headers, list) else list(headers), done))
        return done

    def _flush(self, partition: int) -> None:
        if partition in self._busy or partition not in self._pending:
            return
        self._busy.add(partition)
        task = asyncio.create_task(self._send(partition))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, partition: int) -> None:
        records: list[_Pending] = []
        try:
            try:
                await self._previous_left(partition)
                records = self._pending.pop(partition, [])
                acks = await self._hand_over(partition, records)
            finally:
                # The next batch may be built now; it leaves after this one.
                self._busy.discard(partition)
                if partition in self._pending:
                    self._flush(partition)
        except asyncio.CancelledError:
            _settle(records, cancel=True)
            raise
        except Exception as exc:  # noqa: BLE001 - handed on: each writer of the batch gets it
            _settle(records, error=exc)
        else:
            # The writers are told from the acknowledgements' own callbacks: this task ends
            # here instead of waiting to wake up once more per batch.
            _AckJoin(records, acks)

    async def _previous_left(self, partition: int) -> None:
        """Until the partition's batch queued in aiokafka (if any) is taken into a request.

        Reads aiokafka's accumulator (not public API; a test checks the attributes against the
        installed version). Without them the batch is handed over at once, and aiokafka's
        ``send_batch`` does the waiting, only with the batch built a little earlier."""
        producer = self.producer_of(partition)
        queued = getattr(getattr(producer, "_message_accumulator", None), "_batches", None)
        if not queued:
            return
        batches = queued.get(TopicPartition(self.topic, partition))
        if batches:
            # Its failure is for its own writers to see; this one only waits for its turn.
            with contextlib.suppress(Exception):
                await batches[-1].wait_drain()

    async def _hand_over(
        self, partition: int, records: list[_Pending]
    ) -> list[asyncio.Future[Any]]:
        producer = self.producer_of(partition)
        acks: list[asyncio.Future[Any]] = []
        batch = producer.create_batch()
        appended = 0
        for key, value, headers, done in records:
            if done.done():  # its writer gave up before it left: it is not sent at all
                continue
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                acks.append(await self._send_closed(batch, partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
            appended += 1
        if appended:
            acks.append(await self._send_closed(batch, partition))
        return acks

    async def _send_closed(self, batch: Any, partition: int) -> asyncio.Future[Any]:
        # Closed, or aiokafka holds the batch for the producer's linger_ms (and an open batch
        # could still take ``send()`` records): every writer would wait the linger too.
        batch.close()
        ack: asyncio.Future[Any] = await self.producer_of(partition).send_batch(
            batch, self.topic, partition=partition
        )
        return ack


class _AckJoin:
    """Settles a batch's writers once every one of its acknowledgements is in."""

    __slots__ = ("_left", "_records")

    def __init__(self, records: list[_Pending], acks: list[asyncio.Future[Any]]) -> None:
        self._records = records
        self._left = len(acks)
        if not acks:
            _settle(records)
        for ack in acks:
            ack.add_done_callback(self._answered)

    def _answered(self, ack: asyncio.Future[Any]) -> None:
        if self._left <= 0:
            return
        if ack.cancelled():
            self._left = 0
            _settle(self._records, cancel=True)
        elif (error := ack.exception()) is not None:
            self._left = 0
            _settle(self._records, error=error)
        else:
            self._left -= 1
            if self._left == 0:
                _settle(self._records)


def _settle(
    records: list[_Pending], *, error: BaseException | None = None, cancel: bool = False
) -> None:
    for *_, done in records:
        if done.done():
            continue
        if cancel:
            done.cancel()
        elif error is not None:
            done.set_exception(error)
        else:
            done.set_result(None)


class KeyedPublisher:
    """Keyed records to any topic over a started producer (acks=all): ``publish(topic, key,
    value, headers)`` returns the acknowledgement as a future.

    Records are coalesced per partition (``CoalescingWriter``): a record joins the batch that
    goes out while the previous one is acknowledged, so that many writers (webhook posts, the
    worker's results) share one produce request. Partitions follow Kafka's default partitioner,
    so records land where a producer's own ``send`` would put them. A topic's partition count
    is read once.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._writers: dict[str, tuple[CoalescingWriter, int]] = {}
        self._starting: set[asyncio.Task[None]] = set()

    def __call__(
        self, topic: str, key: bytes, value: bytes | None, headers: Headers
    ) -> asyncio.Future[None]:
        found = self._writers.get(topic)
        if found is not None:
            writer, count = found
            return writer.submit(partition_for(key, count), key, value, headers)
        # A plain future, not the task: a waiter's deadline fails it, and a task cannot be.
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._first(done, topic, key, value, headers))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)
        task.add_done_callback(lambda t: _settle_from(done, t))
        return done

    async def _first(
        self,
        done: asyncio.Future[None],
        topic: str,
        key: bytes,
        value: bytes | None,
        headers: Headers,
    ) -> None:
        """The first record of a topic: its partitions first (the broker may be away)."""
        if topic not in self._writers:
            partitions = await self._producer.partitions_for(topic)
            self._writers[topic] = (CoalescingWriter([self._producer], topic), len(partitions))
        if done.done():  # answered 503 meanwhile: sending it now would publish it twice
            return
        ack = self(topic, key, value, headers)
        done.add_done_callback(lambda _: ack.cancel() if not ack.done() else None)
        await ack


def _settle_from(future: asyncio.Future[None], task: asyncio.Task[None]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(None)
