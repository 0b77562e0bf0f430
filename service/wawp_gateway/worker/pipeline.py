"""process(command) -> Outcome: one command's Wawp call, its retries and what its answer means.

Imports no HTTP or Kafka library: Wawp is reached through ``WawpPort``, time through ``Clock``.
The outcome rules are docs/contract.md's "Outcomes" table.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from wawp_gateway.core.contracts import DlqReason, ErrorInfo, ResultStatus
from wawp_gateway.core.errors import WawpError, WawpMaybeProcessed, WawpRateLimited
from wawp_gateway.core.values import immutable
from wawp_gateway.wawp.catalog import ActionSpec
from wawp_gateway.wawp.responses import WawpReply
from wawp_gateway.worker.intake import OutboundCommand
from wawp_gateway.worker.retry import RetryPolicy

__all__ = [
    "CallPacer",
    "Clock",
    "NoPacing",
    "Outcome",
    "SystemClock",
    "WawpPort",
    "maybe_sent",
    "process",
]

log = structlog.get_logger(__name__)


class WawpPort(Protocol):
    async def call(
        self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str
    ) -> WawpReply: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
    def time(self) -> float:
        """``now()`` as seconds since the epoch (the state records' clock: no datetime made)."""
        ...

    def monotonic(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class CallPacer(Protocol):
    """Decides when a command's next call may start (rate limit, circuit, hand-over)."""

    async def before_call(self, command: OutboundCommand, *, give_up_at: float) -> bool:
        """Wait for the turn; False when it did not come before ``give_up_at`` (monotonic).
        May raise ``CallRefused`` when this worker must not call at all any more."""
        ...

    def after_call(self, command: OutboundCommand, error: WawpError | None) -> None:
        """What the call ended with (None: a 2xx)."""
        ...

    def turn_unused(self, command: OutboundCommand) -> None:
        """The turn granted by ``before_call`` led to no call."""
        ...


class NoPacing:
    async def before_call(self, command: OutboundCommand, *, give_up_at: float) -> bool:
        return True

    def after_call(self, command: OutboundCommand, error: WawpError | None) -> None:
        return None

    def turn_unused(self, command: OutboundCommand) -> None:
        return None


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@immutable
class Outcome:
    status: ResultStatus
    attempts: int
    message_id: str | None = None
    http_status: int | None = None
    response: Any = None
    error: ErrorInfo | None = None
    dlq_reason: DlqReason | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    original_status: ResultStatus | None = None


@dataclass(slots=True)
class _Attempts:
    # A send's body is the message object: its id is what matters, and it would double the size
    # of every result. Commands that return data (queries, session info) keep their body.
    creates_message: bool = False
    count: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    last_error: WawpError | None = field(default=None)

    def outcome(
        self,
        status: ResultStatus,
        *,
        error: ErrorInfo | None = None,
        dlq: DlqReason | None = None,
        reply: WawpReply | None = None,
    ) -> Outcome:
        http_status = reply.http_status if reply else None
        if reply is None and self.last_error is not None:
            http_status = self.last_error.http_status
        return Outcome(
            status=status,
            attempts=self.count,
            message_id=reply.message_id if reply else None,
            http_status=http_status,
            response=reply.body if reply and not self.creates_message else None,
            error=error,
            dlq_reason=dlq,
            first_attempt_at=self.first_at,
            last_attempt_at=self.last_at,
        )


def maybe_sent(
    attempts: int,
    why: str,
    *,
    first_attempt_at: datetime | None = None,
    last_attempt_at: datetime | None = None,
) -> Outcome:
    """``outcome_unknown``: a call may have reached Wawp, and is never resent blindly."""
    return Outcome(
        status=ResultStatus.OUTCOME_UNKNOWN,
        attempts=attempts,
        error=ErrorInfo(code="maybe_sent", message=why, retryable=False),
        dlq_reason=DlqReason.OUTCOME_UNKNOWN,
        first_attempt_at=first_attempt_at,
        last_attempt_at=last_attempt_at,
    )


def _info(error: WawpError, *, retryable: bool | None = None) -> ErrorInfo:
    return ErrorInfo(
        code=error.code,
        message=error.message,
        retryable=error.retryable if retryable is None else retryable,
    )


def _expired(command: OutboundCommand, clock: Clock) -> bool:
    not_after = command.not_after
    return not_after is not None and not command.override_not_after and clock.now() > not_after


def _give_up_at(
    command: OutboundCommand, clock: Clock, policy: RetryPolicy, received: float
) -> float:
    """Monotonic moment after which no call may start: the elapsed cap, or not_after."""
    limit = received + policy.max_elapsed_s
    if command.not_after is not None and not command.override_not_after:
        left = (command.not_after - clock.now()).total_seconds()
        limit = min(limit, clock.monotonic() + max(0.0, left))
    return limit


_EXPIRED = ErrorInfo(
    code="not_after_passed",
    message="not_after passed before the command could be sent",
    retryable=False,
)
_UNAVAILABLE = ErrorInfo(
    code="instance_unavailable",
    message="the instance was held (session down, circuit open or rate limited) past the "
    "retry time cap",
    retryable=True,
)


async def process(
    command: OutboundCommand,
    wawp: WawpPort,
    policy: RetryPolicy,
    clock: Clock,
    *,
    received_monotonic: float,
    rng: random.Random | None = None,
    pacer: CallPacer | None = None,
) -> Outcome:
    """Execute ``command``; never raises for anything Wawp answers."""
    spec = command.spec
    pacing = pacer or NoPacing()
    tries = _Attempts(creates_message=spec.creates_message)
    while True:
        if _expired(command, clock):
            return tries.outcome(ResultStatus.EXPIRED, error=_EXPIRED, dlq=DlqReason.EXPIRED)
        give_up_at = _give_up_at(command, clock, policy, received_monotonic)
        if not await pacing.before_call(command, give_up_at=give_up_at):
            if _expired(command, clock):
                return tries.outcome(ResultStatus.EXPIRED, error=_EXPIRED, dlq=DlqReason.EXPIRED)
            return tries.outcome(
                ResultStatus.FAILED, error=_UNAVAILABLE, dlq=DlqReason.RETRIES_EXHAUSTED
            )
        if _expired(command, clock):  # checked again: the wait for a turn may be long
            pacing.turn_unused(command)
            return tries.outcome(ResultStatus.EXPIRED, error=_EXPIRED, dlq=DlqReason.EXPIRED)
        tries.count += 1
        tries.last_at = clock.now()
        tries.first_at = tries.first_at or tries.last_at
        try:
            reply = await wawp.call(spec, command.params, instance_id=command.instance_id)
        except WawpError as error:
            pacing.after_call(command, error)
            tries.last_error = error
            log.info(
                "wawp.call_failed",
                code=error.code,
                http_status=error.http_status,
                attempt=tries.count,
            )
            if isinstance(error, WawpMaybeProcessed) and not spec.is_idempotent_method:
                return tries.outcome(
                    ResultStatus.OUTCOME_UNKNOWN,
                    error=ErrorInfo(
                        code="maybe_sent",
                        message=f"Wawp may have acted on it ({error.code}); not resent",
                        retryable=False,
                    ),
                    dlq=DlqReason.OUTCOME_UNKNOWN,
                )
            if not error.retryable:
                return tries.outcome(
                    ResultStatus.FAILED, error=_info(error), dlq=DlqReason(error.dlq_reason)
                )
            retry_after = error.retry_after_s if isinstance(error, WawpRateLimited) else None
            delay = policy.delay(tries.count, retry_after_s=retry_after, rng=rng)
            elapsed = clock.monotonic() - received_monotonic
            if not policy.allows(tries.count, elapsed, delay):
                return tries.outcome(
                    ResultStatus.FAILED,
                    error=_info(error, retryable=True),
                    dlq=DlqReason.RETRIES_EXHAUSTED,
                )
            await clock.sleep(delay)
            continue
        pacing.after_call(command, None)
        return tries.outcome(ResultStatus.SUCCEEDED, reply=reply)
