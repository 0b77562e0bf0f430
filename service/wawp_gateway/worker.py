"""The consumer loop: decode, execute, publish one result (and a dead letter), then commit.

Records of one partition run in order; partitions of a batch run concurrently. An offset is
committed only after the record's result and dead letter were acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from wawp_gateway.config import Settings
from wawp_gateway.contracts import DlqReason, ErrorInfo, Result, ResultStatus
from wawp_gateway.dlq import build_dead_letter
from wawp_gateway.errors import WawpError
from wawp_gateway.intake import Envelope, OutboundCommand, Rejection, Undecodable, decode, header
from wawp_gateway.metrics import Metrics
from wawp_gateway.partitioning import partition_for
from wawp_gateway.pipeline import Clock, Outcome, WawpPort, process
from wawp_gateway.retry import RetryPolicy
from wawp_gateway.wawp.chatid import mask_phone

__all__ = ["REROUTED_HEADER", "Worker", "reply_to_problem"]

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

REROUTED_HEADER = "gateway-rerouted"
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def reply_to_problem(reply_to: str, own_topics: tuple[str, ...]) -> str | None:
    """Why ``reply_to`` cannot be used, or None when it can."""
    if not _LEGAL_TOPIC.fullmatch(reply_to) or reply_to in (".", ".."):
        return "reply_to is not a legal Kafka topic name"
    if reply_to in own_topics:
        return "reply_to names one of the gateway's own topics"
    return None


@dataclass(frozen=True, slots=True)
class _Reply:
    """What a result is made of besides the outcome: the command's identity as far as known."""

    command_id: str
    instance_id: str | None
    action: str | None
    idempotency_key: str | None
    correlation_id: str | None
    reply_to: str | None
    replay_count: int

    @classmethod
    def of(cls, item: OutboundCommand | Rejection) -> _Reply:
        if isinstance(item, Rejection):
            return cls(
                item.command_id,
                item.instance_id,
                item.action,
                item.idempotency_key,
                item.correlation_id,
                item.reply_to,
                item.replay_count,
            )
        return cls(
            item.id,
            item.instance_id,
            item.action,
            item.idempotency_key,
            item.correlation_id,
            item.reply_to,
            item.replay_count,
        )


class _CallFlag:
    """Set while a Wawp call is in flight, so a crash mid-call reports ``outcome_unknown``."""

    __slots__ = ("in_flight",)

    def __init__(self) -> None:
        self.in_flight = False


class _FlaggedWawp:
    def __init__(self, inner: WawpPort, flag: _CallFlag) -> None:
        self._inner = inner
        self._flag = flag

    async def call(self, spec: Any, params: Mapping[str, Any], *, instance_id: str) -> Any:
        self._flag.in_flight = True
        try:
            reply = await self._inner.call(spec, params, instance_id=instance_id)
        except WawpError:
            self._flag.in_flight = False  # an answer (or a mapped transport error) came back
            raise
        self._flag.in_flight = False
        return reply


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        wawp: WawpPort,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._topics = settings.topics
        self._consumer = consumer
        self._producer = producer
        self._wawp = wawp
        self._metrics = metrics
        self._clock = clock
        self._policy = RetryPolicy(
            max_attempts=settings.retry.max_attempts,
            max_elapsed_s=settings.retry.max_elapsed_s,
            backoff_initial_s=settings.retry.backoff_initial_s,
            backoff_max_s=settings.retry.backoff_max_s,
            retry_after_max_s=settings.retry.retry_after_max_s,
        )
        self._done: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._batch: asyncio.Task[None] | None = None
        self._last_commit = time.monotonic()
        self.assigned = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until ``stopping`` is set, then drain within the grace period and commit."""
        self._consumer.subscribe(
            [self._topics.send, self._topics.command], listener=_Rebalance(self)
        )
        log.info("worker.started", topics=[self._topics.send, self._topics.command])
        while not stopping.is_set():
            batch = await _first(self._consumer.getmany(timeout_ms=500), stopping)
            self._observe_lag()
            if batch:
                self._batch = asyncio.ensure_future(self._run_batch(batch))
                await _first(asyncio.shield(self._batch), stopping)
                await self._drain(self._settings.shutdown.grace_s)
                self._rewind_unfinished(batch)
                self._batch = None
            await self._maybe_commit()
        await self.commit()
        log.info("worker.stopped")

    def _observe_lag(self) -> None:
        """Records behind the fetch high-watermark, per input topic (``end_offsets`` is wrong on
        the embedded broker; the high-watermark of the last fetch is right everywhere)."""
        lag: dict[str, int] = {self._topics.send: 0, self._topics.command: 0}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is not None and tp.topic in lag:
                lag[tp.topic] += max(0, highwater - self._done.get(tp, highwater))
        for topic, value in lag.items():
            self._metrics.consumer_lag.labels(topic).set(value)

    async def _drain(self, grace_s: float) -> None:
        """Let the current batch finish within ``grace_s``; cancel what is left after that."""
        batch = self._batch
        if batch is None or batch.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(batch), grace_s)
        except TimeoutError:
            batch.cancel()
            await asyncio.gather(batch, return_exceptions=True)
            log.warning("worker.drain_timed_out", grace_s=grace_s)

    def _rewind_unfinished(self, batch: Mapping[TopicPartition, list[Any]]) -> None:
        """After a cancelled batch, fetch its unfinished records again (still-owned partitions)."""
        if self._batch is None or not self._batch.cancelled():
            return
        owned = self._consumer.assignment()
        for tp, records in batch.items():
            if tp in owned and records:
                self._consumer.seek(tp, self._done.get(tp, records[0].offset))

    async def commit(self, partitions: set[TopicPartition] | None = None) -> None:
        owned = self._consumer.assignment()
        offsets = {
            tp: offset
            for tp, offset in self._done.items()
            if tp in owned
            and (partitions is None or tp in partitions)
            and self._committed.get(tp) != offset
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The records will be re-delivered to the partition's next owner.
            log.warning("offsets.commit_failed", error=type(exc).__name__)
            return
        self._committed.update(offsets)
        self._last_commit = time.monotonic()

    async def _maybe_commit(self) -> None:
        interval = self._settings.kafka.commit_interval_ms / 1000
        if time.monotonic() - self._last_commit >= interval:
            await self.commit()

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        if self._batch is not None and not self._batch.done():
            bound = (
                min(
                    self._settings.kafka.session_timeout_ms,
                    self._settings.kafka.rebalance_timeout_ms,
                )
                - self._settings.kafka.heartbeat_interval_ms
            ) / 1000
            await self._drain(max(bound, 0.0))
        await self.commit(revoked)
        for tp in revoked:
            self._done.pop(tp, None)
            self._committed.pop(tp, None)

    # -- processing ------------------------------------------------------------------------

    async def _run_batch(self, batch: Mapping[TopicPartition, list[Any]]) -> None:
        await asyncio.gather(*(self._run_partition(tp, records) for tp, records in batch.items()))

    async def _run_partition(self, tp: TopicPartition, records: list[Any]) -> None:
        for record in records:
            envelope = Envelope(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                value=record.value,
                headers=tuple(record.headers or ()),
            )
            await self.handle(envelope)
            self._done[tp] = record.offset + 1

    async def handle(self, envelope: Envelope) -> None:
        """Everything one record leads to; returns once its outputs are acknowledged."""
        received_at = self._clock.now()
        received_mono = self._clock.monotonic()
        item = decode(envelope, is_known_instance=self._settings.is_known_instance)
        if isinstance(item, Undecodable):
            await self._dead_letter_undecodable(envelope, item)
            return
        if await self._reroute(envelope, item):
            return
        reply = _Reply.of(item)
        structlog.contextvars.bind_contextvars(
            command_id=reply.command_id,
            action=reply.action,
            topic=envelope.topic,
            partition=envelope.partition,
            offset=envelope.offset,
        )
        self._metrics.in_flight.inc()
        try:
            if isinstance(item, Rejection):
                outcome = Outcome(
                    status=ResultStatus.REJECTED,
                    attempts=0,
                    error=ErrorInfo(
                        code=item.error.code, message=item.error.message, retryable=False
                    ),
                    dlq_reason=DlqReason(item.error.dlq_reason),
                )
            else:
                outcome = await self._execute(item, received_mono)
            await self._publish(envelope, reply, outcome, received_at)
            self._metrics.command_duration.labels(reply.action or "unknown").observe(
                self._clock.monotonic() - received_mono
            )
            log.info(
                "command.processed",
                outcome=outcome.status.value,
                attempts=outcome.attempts,
                duration_ms=round((self._clock.monotonic() - received_mono) * 1000, 1),
                error_code=outcome.error.code if outcome.error else None,
            )
        finally:
            self._metrics.in_flight.dec()
            structlog.contextvars.clear_contextvars()

    async def _execute(self, command: OutboundCommand, received_mono: float) -> Outcome:
        flag = _CallFlag()
        try:
            return await process(
                command,
                _FlaggedWawp(self._wawp, flag),
                self._policy,
                self._clock,
                received_monotonic=received_mono,
            )
        except Exception as exc:
            log.error("message.failed", exc_info=True)
            unknown = flag.in_flight and not command.spec.is_idempotent_method
            return Outcome(
                status=ResultStatus.OUTCOME_UNKNOWN if unknown else ResultStatus.FAILED,
                attempts=0,
                error=ErrorInfo(
                    code="maybe_sent" if unknown else "internal_error",
                    message=f"the gateway failed while handling the command ({type(exc).__name__})",
                    retryable=not unknown,
                ),
                dlq_reason=DlqReason.OUTCOME_UNKNOWN if unknown else DlqReason.INTERNAL,
            )

    async def _reroute(self, envelope: Envelope, item: OutboundCommand | Rejection) -> bool:
        """Forward a command found outside its instance's partition; True when forwarded."""
        instance_id = item.instance_id
        if instance_id is None or header(envelope, REROUTED_HEADER) == "true":
            return False
        partitions = self._consumer.partitions_for_topic(envelope.topic)
        if not partitions:
            return False
        target = partition_for(instance_id, len(partitions))
        if target == envelope.partition:
            return False
        headers = [*envelope.headers, (REROUTED_HEADER, b"true")]
        await self._send(
            envelope.topic, envelope.value, instance_id.encode(), headers, partition=target
        )
        self._metrics.rerouted.inc()
        log.warning("command.rerouted", from_partition=envelope.partition, to_partition=target)
        return True

    # -- outputs ---------------------------------------------------------------------------

    async def _send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        *,
        partition: int | None = None,
    ) -> None:
        ack = await self._producer.send(topic, value, key=key, headers=headers, partition=partition)
        await ack

    async def _publish(
        self, envelope: Envelope, reply: _Reply, outcome: Outcome, received_at: datetime
    ) -> None:
        key = reply.instance_id.encode() if reply.instance_id else envelope.key
        result = Result(
            command_id=reply.command_id,
            idempotency_key=reply.idempotency_key,
            correlation_id=reply.correlation_id,
            instance_id=reply.instance_id,
            action=reply.action,
            status=outcome.status,
            message_id=outcome.message_id,
            http_status=outcome.http_status,
            response=outcome.response,
            error=outcome.error,
            attempts=outcome.attempts,
            replay_count=reply.replay_count,
            received_at=received_at,
            completed_at=self._clock.now(),
        )
        await self._publish_result(result, key, reply.reply_to)
        self._metrics.commands.labels(reply.action or "unknown", outcome.status.value).inc()
        if outcome.dlq_reason is not None and outcome.error is not None:
            letter = build_dead_letter(
                envelope,
                key=key,
                reason=outcome.dlq_reason,
                error_code=outcome.error.code,
                error_message=outcome.error.message,
                attempts=outcome.attempts,
                replay_count=reply.replay_count,
                first_attempt_at=outcome.first_attempt_at,
                last_attempt_at=outcome.last_attempt_at,
            )
            await self._send(self._topics.dlq, letter.value, letter.key, letter.headers)
            self._metrics.dlq_records.labels(outcome.dlq_reason.value).inc()

    async def _publish_result(
        self, result: Result, key: bytes | None, reply_to: str | None
    ) -> None:
        if reply_to is not None:
            problem = reply_to_problem(reply_to, self._topics.all())
            if problem is None:
                try:
                    await asyncio.wait_for(
                        self._send(reply_to, result.to_bytes(), key),
                        self._settings.kafka.reply_to_timeout_s,
                    )
                    return
                except TimeoutError:
                    problem = "publishing to reply_to timed out"
                except KafkaError as exc:
                    problem = f"publishing to reply_to failed ({type(exc).__name__})"
            log.warning("result.reply_to_failed", problem=problem)
            self._metrics.reply_to_errors.inc()
            result = result.model_copy(update={"reply_to_error": problem})
        await self._send(self._topics.results, result.to_bytes(), key)

    async def _dead_letter_undecodable(self, envelope: Envelope, item: Undecodable) -> None:
        letter = build_dead_letter(
            envelope,
            key=envelope.key,
            reason=DlqReason.UNDECODABLE,
            error_code="undecodable",
            error_message=item.reason,
            attempts=0,
            replay_count=item.replay_count,
        )
        await self._send(self._topics.dlq, letter.value, letter.key, letter.headers)
        self._metrics.dlq_records.labels(DlqReason.UNDECODABLE.value).inc()
        log.warning(
            "message.dead_lettered",
            reason="undecodable",
            problem=item.reason,
            topic=envelope.topic,
            partition=envelope.partition,
            offset=envelope.offset,
            key=mask_phone(envelope.key.decode("utf-8", "replace")) if envelope.key else None,
        )


async def _first(work: Awaitable[_T], stopping: asyncio.Event) -> _T | None:
    """``work``'s value, or None once ``stopping`` is set first (``work`` is then cancelled,
    unless it is shielded)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if task.done():
        # A batch cancelled by a revoke drain ends here as "no value", not as our cancellation.
        return None if task.cancelled() else task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions.revoked", count=len(revoked))
        await self._worker.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info(
            "partitions.assigned",
            partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
        )
        self._worker.assigned.set()
