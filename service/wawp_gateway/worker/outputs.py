"""What the worker publishes: results (to ``reply_to`` when usable), dead letters, forwards.

Every publish waits for the broker's acknowledgement (acks=all): an offset is marked done only
after everything its record led to is durable. Every record carries the command's trace context
(a producer span's, when spans are recorded; docs/contract.md "Trace context").
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry.trace import SpanKind

from wawp_gateway.core.coalesce import KeyedPublisher
from wawp_gateway.core.config import Settings
from wawp_gateway.core.contracts import DlqReason, Result
from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.tracecontext import with_trace_headers
from wawp_gateway.core.tracing import Tracing
from wawp_gateway.core.values import immutable
from wawp_gateway.wawp.chatid import mask_phone
from wawp_gateway.worker.dlq import build_dead_letter
from wawp_gateway.worker.intake import Envelope, OutboundCommand, Rejection, Undecodable
from wawp_gateway.worker.pipeline import Outcome

__all__ = ["Outputs", "ReplyInfo", "reply_to_problem"]

log = structlog.get_logger(__name__)

_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def reply_to_problem(reply_to: str, own_topics: tuple[str, ...]) -> str | None:
    """Why ``reply_to`` cannot be used, or None when it can."""
    if not _LEGAL_TOPIC.fullmatch(reply_to) or reply_to in (".", ".."):
        return "reply_to is not a legal Kafka topic name"
    if reply_to in own_topics:
        return "reply_to names one of the gateway's own topics"
    return None


@immutable
class ReplyInfo:
    """The command's identity as far as it could be read: what a result is addressed with."""

    command_id: str
    instance_id: str | None
    action: str | None
    idempotency_key: str | None
    correlation_id: str | None
    reply_to: str | None
    replay_count: int

    @classmethod
    def of(cls, item: OutboundCommand | Rejection) -> ReplyInfo:
        return cls(
            item.command_id,
            item.instance_id,
            item.action,
            item.idempotency_key,
            item.correlation_id,
            item.reply_to,
            item.replay_count,
        )


class Outputs:
    def __init__(
        self,
        settings: Settings,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        tracing: Tracing | None = None,
    ) -> None:
        self._settings = settings
        self._tracing = tracing or Tracing()
        self._topics = settings.topics
        self._producer = producer
        self._metrics = metrics
        # The gateway's own topics: keyed records coalesced into per-partition batches, a record
        # an append to a batch instead of a ``send`` of its own (~4 % of a worker's CPU under
        # a backlog). A reply_to topic keeps the plain path: it may not exist.
        self._keyed = KeyedPublisher(producer)
        self._own = frozenset({self._topics.results, self._topics.dlq})

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        *,
        partition: int | None = None,
    ) -> None:
        if not self._tracing.recording:
            headers = with_trace_headers(headers)
            if key is not None and partition is None and topic in self._own:
                await self._keyed(topic, key, value, headers)
                return
            ack = await self._producer.send(
                topic, value, key=key, headers=headers, partition=partition
            )
            await ack
            return
        attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": topic,
        }
        with self._tracing.span(f"send {topic}", SpanKind.PRODUCER, attributes) as span:
            headers = with_trace_headers(headers)
            ack = await self._producer.send(
                topic, value, key=key, headers=headers, partition=partition
            )
            metadata = await ack
            if span is not None:
                span.set_attribute("messaging.destination.partition.id", str(metadata.partition))
                span.set_attribute("messaging.kafka.offset", int(metadata.offset))

    async def publish(
        self,
        envelope: Envelope,
        reply: ReplyInfo,
        outcome: Outcome,
        received_at: datetime,
        completed_at: datetime,
    ) -> None:
        """The result, then (for anything but succeeded/duplicate) the dead letter."""
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
            original_status=outcome.original_status,
            attempts=outcome.attempts,
            replay_count=reply.replay_count,
            received_at=received_at,
            completed_at=completed_at,
        )
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
            await asyncio.gather(
                self._publish_result(result, key, reply.reply_to),
                self.send(self._topics.dlq, letter.value, letter.key, letter.headers),
            )
            self._metrics.dlq_records_of(outcome.dlq_reason.value).inc()
        else:
            await self._publish_result(result, key, reply.reply_to)
        self._metrics.commands_of(reply.action, outcome.status.value).inc()

    async def _publish_result(
        self, result: Result, key: bytes | None, reply_to: str | None
    ) -> None:
        if reply_to is not None:
            problem = reply_to_problem(reply_to, self._topics.all())
            if problem is None:
                try:
                    await asyncio.wait_for(
                        self.send(reply_to, result.to_bytes(), key),
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
        await self.send(self._topics.results, result.to_bytes(), key)

    async def dead_letter_undecodable(self, envelope: Envelope, item: Undecodable) -> None:
        letter = build_dead_letter(
            envelope,
            key=envelope.key,
            reason=DlqReason.UNDECODABLE,
            error_code="undecodable",
            error_message=item.reason,
            attempts=0,
            replay_count=item.replay_count,
        )
        await self.send(self._topics.dlq, letter.value, letter.key, letter.headers)
        self._metrics.dlq_records_of(DlqReason.UNDECODABLE.value).inc()
        log.warning(
            "message.dead_lettered",
            reason="undecodable",
            problem=item.reason,
            topic=envelope.topic,
            partition=envelope.partition,
            offset=envelope.offset,
            key=mask_phone(envelope.key.decode("utf-8", "replace")) if envelope.key else None,
        )
