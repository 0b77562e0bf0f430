"""``wawp-gateway tracker``: ``message.ack`` events x ``wawp.state`` outcomes -> ``wawp.delivery``.

One consumer in its own group (``<group_id>.tracker``) reads the events topic and the state
topic; the join itself is ``delivery.DeliveryJoin``. Deliveries are published (acks=all, key =
message id) before the offsets that produced them are committed: at least once. The join lives in
memory; when partitions are assigned (a start, a restart, a rebalance), their records of the
join's window before the committed offsets are read again without publishing (``rewind``), so
acks of messages sent before find their send, and levels reached before are not reported again.
Timeouts due while no tracker ran are reported after the replay (possibly a second time).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaConnectionError
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from wawp_gateway.core.config import TrackerProcessSettings
from wawp_gateway.core.contracts import DeliveryRecord, StateRecord, StateStatus
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.kafka import build_consumer, build_producer, build_reader, start_client
from wawp_gateway.core.membership import stop_consumer
from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.probes import serve_probes
from wawp_gateway.core.rewind import first_offset_since, partition_reader
from wawp_gateway.core.runtime import tune_gc
from wawp_gateway.core.tracecontext import TRACE_HEADERS, kafka_headers
from wawp_gateway.core.tracing import Tracing
from wawp_gateway.tracker.delivery import ACK_NAMES, Ack, Delivery, DeliveryJoin, Sent, ack_name

__all__ = ["Tracker", "parse_ack", "parse_sent", "run_tracker", "running_tracker"]

log = structlog.get_logger(__name__)

_EXPIRE_EVERY_S = 1.0
_WINDOW_FACTOR = 2  # a message is remembered for twice the ack timeout (at least an hour)
_MIN_WINDOW_S = 3600.0


def parse_sent(value: bytes | None, headers: Iterable[tuple[str, bytes]] = ()) -> Sent | None:
    """A terminal ``succeeded`` state record with a message id; None for anything else. The
    command's trace context comes with the record's ``headers``."""
    if not value:
        return None  # restore markers
    try:
        record = StateRecord.model_validate_json(value)
    except ValidationError:
        return None
    if record.status is not StateStatus.SUCCEEDED or not record.message_id:
        return None
    if record.instance_id is None:
        return None
    at = record.first_attempt_at or record.recorded_at
    return Sent(
        message_id=record.message_id,
        instance_id=record.instance_id,
        sent_at=at.timestamp(),
        command_id=record.command_id,
        correlation_id=record.correlation_id,
        trace=tuple(h for h in headers if h[0] in TRACE_HEADERS),
    )


def parse_ack(value: bytes | None, received_at: float, *, replayed: bool = False) -> Ack | None:
    """A ``message.ack`` webhook body; None for other events or unusable bodies."""
    if not value:
        return None
    try:
        body = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or body.get("event") != "message.ack":
        return None
    payload = body.get("payload")
    if not isinstance(payload, dict):
        return None
    message_id = payload.get("id")
    if isinstance(message_id, dict):  # some engines send {"_serialized": ...}
        message_id = message_id.get("_serialized")
    ack = payload.get("ack")
    if not isinstance(message_id, str) or not message_id or type(ack) is not int:
        return None
    stamp = body.get("timestamp")
    at = stamp / 1000 if isinstance(stamp, int | float) and stamp > 0 else received_at
    return Ack(message_id=message_id, ack=ack, at=at, replayed=replayed)


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def to_record(delivery: Delivery) -> DeliveryRecord:
    sent = delivery.sent
    return DeliveryRecord(
        message_id=sent.message_id,
        command_id=sent.command_id,
        correlation_id=sent.correlation_id,
        instance_id=sent.instance_id,
        ack=delivery.ack,
        ack_name=delivery.ack_name,
        ack_timeout=delivery.timeout,
        sent_at=_time(sent.sent_at),
        acked_at=_time(delivery.acked_at),
    )


class Tracker:
    def __init__(
        self,
        settings: TrackerProcessSettings,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        *,
        reader: AIOKafkaConsumer | None = None,
        clock: Callable[[], float] = time.time,
        tracing: Tracing | None = None,
    ) -> None:
        self._settings = settings
        self._tracing = tracing or Tracing()
        self._consumer = consumer
        self._reader = reader
        self._replay_until: dict[TopicPartition, int] = {}
        self._producer = producer
        self.metrics = metrics
        self._clock = clock
        timeout = settings.tracker.ack_timeout_s
        self.join = DeliveryJoin(
            ack_timeout_s=timeout,
            window_s=max(_MIN_WINDOW_S, _WINDOW_FACTOR * timeout),
            clock=clock,
        )
        self.metrics_port = 0

    def is_ready(self) -> bool:
        return bool(self._consumer.assignment())

    @property
    def replaying(self) -> bool:
        return bool(self._replay_until)

    async def rewind(self, assigned: set[TopicPartition]) -> None:
        """Seek each assigned partition back to the start of the join's window (records before
        its committed offset are then replayed without publishing)."""
        if self._reader is None or not assigned:
            return
        since_ms = int((self._clock() - self.join.window_s) * 1000)
        # Paused while searching, so nothing is read from the committed offsets before the seek.
        self._consumer.pause(*assigned)
        try:
            await self._seek_back(assigned, since_ms)
        finally:
            self._consumer.resume(*assigned)

    async def _seek_back(self, assigned: set[TopicPartition], since_ms: int) -> None:
        assert self._reader is not None
        self._reader.assign(list(assigned))
        lows = await self._reader.beginning_offsets(list(assigned))
        replayed = 0
        for tp in sorted(assigned):
            committed = await self._consumer.committed(tp)
            if not committed:
                continue  # nothing was read here before: nothing to rebuild
            read_at = partition_reader(self._reader, tp)
            start = await first_offset_since(read_at, lows.get(tp, 0), committed, since_ms)
            if start < committed:
                self._consumer.seek(tp, start)
                self._replay_until[tp] = committed
                replayed += committed - start
        if self._replay_until:
            log.info("tracker.rewind", partitions=len(self._replay_until), records=replayed)

    async def _end_replays(self) -> None:
        """A partition's replay ends once its position passed the offset committed before (by
        position, not by the last record: offsets may have gaps)."""
        for tp, until in list(self._replay_until.items()):
            if tp not in self._consumer.assignment() or await self._consumer.position(tp) >= until:
                del self._replay_until[tp]
        if not self._replay_until:
            log.info("tracker.rewound", messages=len(self.join))

    def forget(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self._replay_until.pop(tp, None)

    async def run(self, stopping: asyncio.Event) -> None:
        topics = self._settings.topics
        next_expiry = 0.0
        stop = asyncio.ensure_future(stopping.wait())
        try:
            while not stopping.is_set():
                fetch = asyncio.ensure_future(self._consumer.getmany(timeout_ms=200))
                await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    await asyncio.gather(fetch, return_exceptions=True)
                    break
                batches: dict[Any, list[ConsumerRecord[bytes, bytes]]] = fetch.result()
                deliveries: list[Delivery] = []
                for tp, records in batches.items():
                    until = self._replay_until.get(tp, -1)
                    for record in records:
                        replay = record.offset < until
                        found = self._handle(tp.topic, record, topics.state, replay=replay)
                        # A replayed send may complete a live ack that waited for it: only
                        # deliveries of replayed acks were reported before.
                        deliveries.extend(d for d in found if not d.replayed)
                if self._replay_until:
                    await self._end_replays()
                now = time.monotonic()
                # No timeouts while replaying: a DEVICE ack not read again yet is not missing.
                if now >= next_expiry and not self._replay_until:
                    next_expiry = now + _EXPIRE_EVERY_S
                    timeouts = self.join.expire()
                    self.metrics.ack_timeouts.inc(len(timeouts))
                    deliveries.extend(timeouts)
                await self._publish(deliveries)
                if batches:
                    await self._consumer.commit()
        finally:
            stop.cancel()

    def _handle(
        self,
        topic: str,
        record: ConsumerRecord[bytes, bytes],
        state_topic: str,
        *,
        replay: bool = False,
    ) -> list[Delivery]:
        """The deliveries a record leads to (those of replayed acks are marked replayed)."""
        if topic == state_topic:
            sent = parse_sent(record.value, record.headers)
            return [] if sent is None else self.join.on_sent(sent)
        ack = parse_ack(record.value, self._clock(), replayed=replay)
        if ack is None:
            return []
        if not replay:
            self.metrics.message_acks_of(ack_name(ack.ack)).inc()
        return self.join.on_ack(ack)

    async def _publish(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        topic = self._settings.topics.delivery
        futures = []
        for delivery in deliveries:
            value = to_record(delivery).model_dump_json(by_alias=True).encode()
            key = delivery.sent.message_id.encode()
            # The ack level as a span of the command's trace, at the time of the ack; the record
            # carries that trace (docs/contract.md "Trace context").
            with self._ack_span(delivery, topic):
                headers = kafka_headers()
                futures.append(await self._producer.send(topic, value, key=key, headers=headers))
                latency = delivery.latency_s
                if latency is not None:
                    self.metrics.message_ack_latency_of(delivery.ack_name).observe(latency)
            if delivery.ends is not None:
                self.metrics.tracked_sends_of(delivery.ends).inc()
            log.info(
                "delivery.tracked",
                message_id=delivery.sent.message_id,
                command_id=delivery.sent.command_id,
                ack=delivery.ack_name,
                ack_timeout=delivery.timeout,
            )
        await asyncio.gather(*futures)

    def _ack_span(self, delivery: Delivery, topic: str) -> Any:
        tracing = self._tracing
        sent = delivery.sent
        attributes: dict[str, str | int | bool] = {}
        start: int | None = None
        if tracing.recording:
            attributes = {
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
                "wawp.ack": delivery.ack,
                "wawp.ack_name": delivery.ack_name,
                "wawp.ack_timeout": delivery.timeout,
                "wawp.instance_id": sent.instance_id,
            }
            if sent.command_id is not None:
                attributes["messaging.message.id"] = sent.command_id
            if delivery.acked_at is not None and not delivery.timeout:
                start = int(min(delivery.acked_at, self._clock()) * 1e9)
        name = "delivery ack_timeout" if delivery.timeout else f"delivery {delivery.ack_name}"
        return tracing.continuing(sent.trace, name, SpanKind.PRODUCER, attributes, start_time=start)


@asynccontextmanager
async def running_tracker(
    settings: TrackerProcessSettings,
    registry: CollectorRegistry | None = None,
    *,
    clock: Callable[[], float] = time.time,
    tracing: Tracing | None = None,
) -> AsyncIterator[Tracker]:
    """Consumer, producer and probes for the block; ``Tracker.run`` does the work."""
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    metrics.start_tracker_series(ACK_NAMES.values())
    consumer = build_consumer(settings.kafka, group_id=f"{settings.kafka.group_id}.tracker")
    producer = build_producer(settings.kafka)
    reader = build_reader(settings.kafka)
    try:
        try:
            await start_client(producer, settings.kafka)
            await start_client(consumer, settings.kafka)
            await start_client(reader, settings.kafka)
        except KafkaConnectionError:
            raise ConfigError(
                "GATEWAY_KAFKA__BOOTSTRAP_SERVERS",
                f"cannot reach Kafka at {settings.kafka.bootstrap_servers}",
            ) from None
        tracker = Tracker(
            settings, consumer, producer, metrics, reader=reader, clock=clock, tracing=tracing
        )
        consumer.subscribe(
            [settings.topics.events, settings.topics.state], listener=_Rewinding(tracker)
        )
        async with serve_probes(
            metrics.registry, settings.metrics.host, settings.metrics.port, tracker.is_ready
        ) as port:
            tracker.metrics_port = port
            yield tracker
    finally:
        await stop_consumer(consumer)
        await reader.stop()
        await producer.stop()


class _Rewinding(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, tracker: Tracker) -> None:
        self._tracker = tracker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._tracker.forget(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._tracker.rewind(assigned)


async def run_tracker(settings: TrackerProcessSettings, stopping: asyncio.Event) -> None:
    """``wawp-gateway tracker``: track until ``stopping`` is set."""
    tracing = Tracing.from_environ(os.environ, service="wawp-gateway-tracker")
    try:
        async with running_tracker(settings, tracing=tracing) as tracker:
            tune_gc()
            await tracker.run(stopping)
    finally:
        await asyncio.to_thread(tracing.shutdown)
