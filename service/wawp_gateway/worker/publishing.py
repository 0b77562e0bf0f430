"""Getting a command's outputs out: its outcome published and logged, retried while the broker
refuses.

An output that never got out must hold its record's offset back, not vanish; a retry may
repeat a result, so results are at least once (docs/contract.md "Idempotency and replay").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from aiokafka.errors import KafkaError
from opentelemetry import trace

from wawp_gateway.worker.intake import Envelope
from wawp_gateway.worker.outputs import Outputs, ReplyInfo
from wawp_gateway.worker.pipeline import Clock, Outcome

__all__ = ["Publisher"]

log = structlog.get_logger(__name__)

_PUBLISH_RETRY_S = 1.0


class Publisher:
    def __init__(self, outputs: Outputs, clock: Clock) -> None:
        self._outputs = outputs
        self._clock = clock

    async def publish_outcome(
        self, envelope: Envelope, reply: ReplyInfo, outcome: Outcome, received_at: datetime
    ) -> None:
        """The result (and dead letter) of one command, logged once acknowledged."""
        published_at = self._clock.now()
        span = trace.get_current_span()  # the command's consumer span (docs/contract.md)
        if span.is_recording():
            span.set_attribute("wawp.outcome", outcome.status.value)
            span.set_attribute("wawp.attempts", outcome.attempts)
            if outcome.error is not None:
                span.set_attribute("wawp.error_code", outcome.error.code)
        await self._outputs.publish(envelope, reply, outcome, received_at, published_at)
        log.info(
            "command.processed",
            command_id=reply.command_id,
            action=reply.action,
            outcome=outcome.status.value,
            attempts=outcome.attempts,
            error_code=outcome.error.code if outcome.error else None,
            duration_ms=round((published_at - received_at).total_seconds() * 1000, 1),
        )

    async def until_published(self, publish: Callable[[], Awaitable[None]]) -> None:
        """Publish, retrying while the broker refuses."""
        while True:
            try:
                await publish()
                return
            except KafkaError as exc:
                log.warning("output.publish_failed", error=type(exc).__name__)
                await self._clock.sleep(_PUBLISH_RETRY_S)
