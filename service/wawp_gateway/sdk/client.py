"""``GatewayClient``: publish commands and read what the gateway answers, on plain aiokafka.

    async with GatewayClient("127.0.0.1:9092") as gw:
        cmd = Actions("ABC123DEF456").send_text(chatId="447441429009", message="Hi")
        result = await gw.request(cmd, timeout_s=30)
        record = await gw.delivery(cmd.id, until="READ")

One producer per client (acks=all, keyed by instance with Kafka's default partitioner); group-less
readers for results, events and deliveries, so a client never joins or disturbs a consumer
group and can be started and stopped freely.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.propagate import inject
from pydantic import BaseModel, ValidationError

from wawp_gateway.core.config import ClientSettings
from wawp_gateway.core.contracts import Command, DeliveryRecord, Result
from wawp_gateway.core.kafka import connection_options, start_secured
from wawp_gateway.core.partitioning import cached_default_partitioner
from wawp_gateway.core.sections import TopicsSettings
from wawp_gateway.sdk.acks import AckName, ack_level, has_failed, has_reached
from wawp_gateway.sdk.errors import (
    ClientClosed,
    DeliveryFailed,
    DeliveryTimeout,
    InvalidCommand,
    RequestTimeout,
)
from wawp_gateway.sdk.events import EventIds, WawpEvent, header
from wawp_gateway.sdk.reader import Record, Start, TopicReader
from wawp_gateway.sdk.results import LatestResults
from wawp_gateway.sdk.routing import (
    Published,
    encode_command,
    key_for,
    reply_topic_problem,
    topic_for,
)
from wawp_gateway.sdk.subscription import Subscription
from wawp_gateway.sdk.waiter import ResultWaiter

__all__ = ["GatewayClient"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Delivery records are stamped by the tracker's clock, commands' publish times by ours: reading
# deliveries from a little before the publish covers a clock that is behind.
_CLOCK_SKEW_S = 60.0
_REMEMBERED_PUBLISHES = 100_000


class GatewayClient:
    """Producer-side client of the gateway. ``client_options`` are passed to every aiokafka
    client it makes (``security_protocol``, ``sasl_mechanism``, ``ssl_context``, ...)."""

    def __init__(
        self,
        bootstrap_servers: str = "127.0.0.1:9092",
        *,
        topics: TopicsSettings | None = None,
        client_id: str = "wawp-gateway-sdk",
        fetch_max_wait_ms: int = 50,
        request_timeout_ms: int = 30_000,
        linger_ms: int = 0,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.topics = topics or TopicsSettings()
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._request_timeout_ms = request_timeout_ms
        self._linger_ms = linger_ms
        self._options = dict(client_options or {})
        self._producer: AIOKafkaProducer | None = None
        self._waiters: dict[str, ResultWaiter] = {}
        self._waiter_lock = asyncio.Lock()
        self._subscriptions: set[Subscription[Any]] = set()
        self._published_at: OrderedDict[str, float] = OrderedDict()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: ClientSettings, **options: Any) -> GatewayClient:
        """From the gateway's own settings (``GATEWAY_KAFKA__*``, ``GATEWAY_TOPICS__*``), the
        security ones included (TLS, SASL: docs/security.md)."""
        kafka = settings.kafka
        options.setdefault("client_options", connection_options(kafka))
        return cls(
            kafka.bootstrap_servers,
            topics=settings.topics,
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
            request_timeout_ms=kafka.request_timeout_ms,
            **options,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise ClientClosed()
        if self._producer is not None:
            return
        # acks=all: published means durable. No idempotent producer: not every Kafka-compatible
        # broker has one, and the gateway's idempotency keys cover re-sends anyway.
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            linger_ms=self._linger_ms,
            request_timeout_ms=self._request_timeout_ms,
            enable_idempotence=False,
            partitioner=cached_default_partitioner,
            **self._options,
        )
        # A refused TLS session or login raises KafkaTlsFailed / KafkaAuthFailed, not aiokafka's
        # cause-less "Unable to bootstrap".
        await start_secured(producer, self._bootstrap, self._options)
        self._producer = producer

    async def stop(self) -> None:
        """Stop every reader and the producer; waiting requests get ``ClientClosed``."""
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        for waiter in self._waiters.values():
            await waiter.stop()
        self._waiters.clear()
        if self._producer is not None:
            await self._producer.stop()

    async def __aenter__(self) -> GatewayClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- commands -----------------------------------------------------------------------------

    async def publish(self, command: Command, *, topic: str | None = None) -> Published:
        """Publish ``command`` to its topic (or ``topic``), keyed by its instance, and wait for
        the broker."""
        if self._closed or self._producer is None:
            raise ClientClosed()
        self._check_reply_to(command)
        topic = topic or topic_for(command, self.topics)
        carrier: dict[str, str] = {}
        inject(carrier)  # the caller's trace context, when it has one (docs/tracing.md)
        metadata = await self._producer.send_and_wait(
            topic,
            encode_command(command),
            key=key_for(command),
            headers=[(name, value.encode()) for name, value in carrier.items()] or None,
        )
        self._remember(command.id)
        return Published(command.id, topic, metadata.partition, metadata.offset)

    async def request(
        self, command: Command, *, timeout_s: float = 60.0, topic: str | None = None
    ) -> Result:
        """Publish ``command`` (to ``topic`` when given) and return its result (from its
        ``reply_to`` topic when set).

        With ``reply_to``, the results topic is watched too: when the gateway cannot publish to
        the reply topic it puts the result there, with ``reply_to_error`` set. Raises
        ``RequestTimeout`` when no result came within ``timeout_s`` seconds (publishing
        included); the command may still be executed then."""
        if self._closed or self._producer is None:
            raise ClientClosed()
        self._check_reply_to(command)
        topics = [self.topics.results]
        if command.reply_to is not None:
            topics.insert(0, command.reply_to)
        try:
            async with asyncio.timeout(timeout_s):
                waiters = [await self._waiter(watched) for watched in topics]
                futures = [waiter.expect(command.id) for waiter in waiters]
                try:
                    await self.publish(command, topic=topic)
                    done, _ = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
                    return next(iter(done)).result()
                finally:
                    for waiter, future in zip(waiters, futures, strict=True):
                        waiter.forget(command.id, future)
        except TimeoutError:
            raise RequestTimeout(command.id, timeout_s) from None

    def _check_reply_to(self, command: Command) -> None:
        """A reply topic the gateway would ignore fails here: the result would go elsewhere."""
        if command.reply_to is not None:
            problem = reply_topic_problem(command.reply_to, self.topics)
            if problem is not None:
                raise InvalidCommand("invalid_command", problem)

    async def _waiter(self, topic: str) -> ResultWaiter:
        async with self._waiter_lock:
            if self._closed:
                raise ClientClosed()
            waiter = self._waiters.get(topic)
            if waiter is None or not waiter.is_running:
                if waiter is not None:
                    await waiter.stop()
                waiter = ResultWaiter(self._reader([topic], "end"), topic)
                await waiter.start()
                self._waiters[topic] = waiter
            return waiter

    def _remember(self, command_id: str) -> None:
        self._published_at[command_id] = time.time()
        self._published_at.move_to_end(command_id)
        while len(self._published_at) > _REMEMBERED_PUBLISHES:
            self._published_at.popitem(last=False)

    # -- outputs ------------------------------------------------------------------------------

    def results(
        self, *, topic: str | None = None, start: Start = "end", dedupe: bool = True
    ) -> Subscription[Result]:
        """Results on the results topic (or ``topic``, e.g. a reply_to topic). With ``dedupe``
        only news: per command the first result, and later ones only with a higher
        ``replay_count`` (``LatestResults``)."""
        latest = LatestResults() if dedupe else None

        def decode(record: Record) -> Result | None:
            result = _parse(Result, record)
            if result is None or (latest is not None and not latest.offer(result)):
                return None
            return result

        return self._subscribe([topic or self.topics.results], start, decode)

    def events(
        self,
        *,
        instance_id: str | None = None,
        event: str | Collection[str] | None = None,
        start: Start = "end",
        dedupe: bool = True,
    ) -> Subscription[WawpEvent]:
        """Wawp webhook events, optionally of one instance and of some event names only. With
        ``dedupe`` a re-delivered event (same instance and event id) is skipped."""
        names = {event} if isinstance(event, str) else set(event) if event is not None else None
        seen = EventIds() if dedupe else None

        def decode(record: Record) -> WawpEvent | None:
            instance = header(record.headers, "wawp-instance")
            if instance is None and record.key is not None:
                instance = record.key.decode(errors="replace")
            if instance_id is not None and instance != instance_id:
                return None
            name = header(record.headers, "wawp-event")
            if names is not None and name is not None and name not in names:
                return None  # skipped before parsing: most events are not wanted
            parsed = _parse(WawpEvent, record)
            if parsed is None or (names is not None and parsed.event not in names):
                return None
            event_id = header(record.headers, "wawp-event-id") or parsed.id
            if seen is not None and event_id is not None and not seen.is_new(instance, event_id):
                return None
            return parsed.model_copy(update={"instance_id": instance}) if instance else parsed

        return self._subscribe([self.topics.events], start, decode)

    def deliveries(
        self,
        *,
        command_id: str | None = None,
        message_id: str | None = None,
        start: Start | None = None,
    ) -> Subscription[DeliveryRecord]:
        """Delivery records, optionally of one command or message.

        ``start`` defaults to "end", except for a ``command_id``: then to shortly before this
        client published that command, or the beginning of the topic for a command it did not
        publish, so records written before the call are not missed."""
        if start is None:
            start = self._delivery_start(command_id) if command_id is not None else "end"

        def decode(record: Record) -> DeliveryRecord | None:
            found = _parse(DeliveryRecord, record)
            if found is None:
                return None
            if command_id is not None and found.command_id != command_id:
                return None
            if message_id is not None and found.message_id != message_id:
                return None
            return found

        return self._subscribe([self.topics.delivery], start, decode)

    async def delivery(
        self,
        command_id: str,
        *,
        until: AckName | int = "READ",
        timeout_s: float = 60.0,
        start: Start | None = None,
    ) -> DeliveryRecord:
        """The first delivery record of ``command_id`` at level ``until`` or higher.

        Raises ``DeliveryFailed`` on an ERROR ack and ``DeliveryTimeout`` after ``timeout_s``."""
        level = ack_level(until)
        try:
            async with (
                asyncio.timeout(timeout_s),
                self.deliveries(command_id=command_id, start=start) as records,
            ):
                async for record in records:
                    if has_failed(record):
                        raise DeliveryFailed(record)
                    if has_reached(record, level):
                        return record
        except TimeoutError:
            raise DeliveryTimeout(command_id, str(until), timeout_s) from None
        raise ClientClosed()

    def _delivery_start(self, command_id: str) -> Start:
        published = self._published_at.get(command_id)
        if published is None:
            return "beginning"
        return datetime.fromtimestamp(published - _CLOCK_SKEW_S, UTC)

    # -- readers ------------------------------------------------------------------------------

    def _reader(self, topics: list[str], start: Start) -> TopicReader:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            request_timeout_ms=self._request_timeout_ms,
            **self._options,
        )
        return TopicReader(consumer, topics, start)

    def _subscribe(
        self, topics: list[str], start: Start, decode: Callable[[Record], T | None]
    ) -> Subscription[T]:
        if self._closed:
            raise ClientClosed()
        subscription = Subscription(
            lambda: self._reader(topics, start), decode, self._subscriptions.discard
        )
        self._subscriptions.add(subscription)
        return subscription


_Model = TypeVar("_Model", bound=BaseModel)


def _parse(model: type[_Model], record: Record) -> _Model | None:
    """The record's value as ``model``; None (logged) for a record that is not one."""
    try:
        return model.model_validate_json(record.value or b"")
    except ValidationError:
        log.warning(
            "record.undecodable",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        return None
