"""The receiver's ``Publish`` on confluent-kafka (librdkafka): the alternative to aiokafka that
the webhook benchmark measures side by side in its publish-only floor.

librdkafka does the per-record work (batching, encoding, acknowledgements) in C. Delivery reports
arrive through ``poll()``, which runs on the event loop (never blocking) while records are
outstanding, so callbacks resolve the futures in the loop's own thread. Partitioning is murmur2,
as Kafka's Java client and aiokafka's default. Measured: no cheaper per post than aiokafka with
the receiver's coalescing (the Python side of produce, its callback and the polling cost about
what aiokafka's batched path does), so the receiver stays on aiokafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from wawp_gateway.core.sections import KafkaSettings

__all__ = ["ConfluentPublisher"]

_POLL_EVERY_S = 0.0005


class ConfluentPublisher:
    """``publish(topic, key, value, headers)`` -> the acknowledgement as a future; failures are
    ``PublishFailed``. ``timeout_s`` is librdkafka's ``message.timeout.ms``."""

    def __init__(self, kafka: KafkaSettings, *, timeout_s: float) -> None:
        from confluent_kafka import Producer

        self._producer: Any = Producer(
            {
                "bootstrap.servers": kafka.bootstrap_servers,
                "client.id": kafka.client_id,
                "acks": "all",
                "enable.idempotence": False,  # the embedded broker cannot; nothing relies on it
                "linger.ms": 0,  # each post waits for its own ack: batching comes from load
                "partitioner": "murmur2_random",
                "message.timeout.ms": max(1, int(timeout_s * 1000)),
                "request.timeout.ms": kafka.request_timeout_ms,
            }
        )
        self._outstanding = 0
        self._polling: asyncio.TimerHandle | asyncio.Handle | None = None

    def __call__(
        self, topic: str, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> asyncio.Future[None]:
        from confluent_kafka import KafkaException

        from wawp_gateway.webhook.publisher import PublishFailed

        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def delivered(error: Any, _message: Any) -> None:
            self._outstanding -= 1
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(PublishFailed(str(error.name())))

        try:
            self._producer.produce(topic, value, key, headers=list(headers), on_delivery=delivered)
        except (BufferError, KafkaException) as exc:
            done.set_exception(PublishFailed(type(exc).__name__))
            return done
        self._outstanding += 1
        if self._polling is None:
            self._polling = loop.call_soon(self._poll, loop)
        return done

    def _poll(self, loop: asyncio.AbstractEventLoop) -> None:
        self._polling = None
        self._producer.poll(0)
        if self._outstanding:
            self._polling = loop.call_later(_POLL_EVERY_S, self._poll, loop)

    async def reachable(self, timeout_s: float) -> bool:
        """Whether the cluster answers a metadata request now (for /readyz)."""
        from confluent_kafka import KafkaException

        try:
            await asyncio.to_thread(self._producer.list_topics, timeout=timeout_s)
        except KafkaException:
            return False
        return True

    async def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is outstanding, for at most ``timeout_s``. Polled here, not flushed in a
        thread: delivery callbacks must run on the loop that owns the futures."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._outstanding and loop.time() < deadline:
            self._producer.poll(0)
            await asyncio.sleep(_POLL_EVERY_S)
