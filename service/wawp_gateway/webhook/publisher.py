"""Publishing the webhook receiver's events to the broker, and probing that it answers.

``Publish`` is what the receiver needs; ``KafkaPublisher`` provides it over a started producer.
``metadata_refreshed`` tells /readyz whether the broker is back after a failed publish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from wawp_gateway.core.coalesce import CoalescingWriter
from wawp_gateway.core.partitioning import partition_for
from wawp_gateway.webhook.checks import Headers

__all__ = ["KafkaPublisher", "Publish", "PublishFailed", "metadata_refreshed"]

Publish = Callable[[str, bytes, bytes, Headers], "asyncio.Future[None]"]
"""``publish(topic, key, value, headers)``: the acknowledgement as a future, which fails with
PublishFailed or a KafkaError when the broker did not take the record."""

_READINESS_PROBE_S = 2.0


class PublishFailed(Exception):
    """The broker did not take the record (it is safe to answer 503: nothing was stored)."""


class KafkaPublisher:
    """``Publish`` over a started producer (acks=all).

    Records are coalesced per partition (``CoalescingWriter``): a request's record joins the
    batch that goes out while the previous one is acknowledged, so that many posts share one
    produce request. Partitions follow Kafka's default partitioner, so events land where a
    producer's own ``send`` would put them. A topic's partition count is read once.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._writers: dict[str, tuple[CoalescingWriter, int]] = {}
        self._starting: set[asyncio.Task[None]] = set()

    def __call__(
        self, topic: str, key: bytes, value: bytes, headers: Headers
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
        task.add_done_callback(lambda t: _settle(done, t))
        return done

    async def _first(
        self, done: asyncio.Future[None], topic: str, key: bytes, value: bytes, headers: Headers
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


async def metadata_refreshed(producer: AIOKafkaProducer) -> bool:
    """Whether the broker answers a metadata request now (bounded: a probe must answer)."""
    try:
        async with asyncio.timeout(_READINESS_PROBE_S):
            return bool(await producer.client.force_metadata_update())
    except (TimeoutError, KafkaError):
        return False


def _settle(future: asyncio.Future[None], task: asyncio.Task[None]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(None)
