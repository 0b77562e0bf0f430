"""One command's part in the idempotency store: its verdict, and the records of its calls.

``in_progress`` is written and acknowledged before every call, ``not_sent`` after an answer Wawp
did not act on, the terminal outcome after the result was published (docs/contract.md
"Idempotency and replay"). The engine drives it; the rules live in ``idempotency.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiokafka.errors import KafkaError

from wawp_gateway.core.contracts import DlqReason, ErrorInfo, ResultStatus, StateStatus
from wawp_gateway.worker.intake import OutboundCommand
from wawp_gateway.worker.pipeline import Clock, Outcome, maybe_sent
from wawp_gateway.worker.state.entries import Entry, StateEvent
from wawp_gateway.worker.state.idempotency import Decision, PartitionState, fingerprint
from wawp_gateway.worker.state.statelog import StateLog, encode_record, record_head, record_key

__all__ = ["JobLedger", "answer_from_state", "conflict_outcome"]

Publish = Callable[[Callable[[], Awaitable[None]]], Awaitable[None]]

_TERMINAL_OF = {
    ResultStatus.SUCCEEDED: StateStatus.SUCCEEDED,
    ResultStatus.FAILED: StateStatus.FAILED,
    ResultStatus.EXPIRED: StateStatus.EXPIRED,
    ResultStatus.OUTCOME_UNKNOWN: StateStatus.OUTCOME_UNKNOWN,
}


def _moment(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def _error(entry: Entry) -> ErrorInfo | None:
    if entry.error is None:
        return None
    code, message, retryable = entry.error
    return ErrorInfo(code=code, message=message, retryable=retryable)


def answer_from_state(entry: Entry) -> Outcome:
    """``duplicate``: the first execution's outcome repeated, no call."""
    return Outcome(
        status=ResultStatus.DUPLICATE,
        attempts=0,
        message_id=entry.message_id,
        error=_error(entry),
        original_status=ResultStatus(entry.status.value),
    )


def conflict_outcome() -> Outcome:
    return Outcome(
        status=ResultStatus.REJECTED,
        attempts=0,
        error=ErrorInfo(
            code="idempotency_conflict",
            message="the idempotency key belongs to a different command that is in flight "
            "or has a blocking outcome",
            retryable=False,
        ),
        dlq_reason=DlqReason.IDEMPOTENCY_CONFLICT,
    )


def ambiguous_outcome(entry: Entry) -> Outcome:
    """An earlier owner started a call and left no answer: it may have reached Wawp."""
    return maybe_sent(
        entry.attempts,
        "an earlier worker started this call and stopped before its answer; not resent",
        first_attempt_at=_moment(entry.first_attempt_at),
        last_attempt_at=_moment(entry.recorded_at),
    )


class JobLedger:
    """The state records of one command, written to its partition of ``wawp.state``."""

    def __init__(
        self,
        command: OutboundCommand,
        partition: int,
        state: PartitionState,
        log: StateLog,
        clock: Clock,
        publish: Publish,
    ) -> None:
        self.command = command
        self.partition = partition
        self.state = state
        self._log = log
        self._clock = clock
        self._publish = publish
        self.fingerprint = fingerprint(command.instance_id, command.action, command.params)
        self._key = record_key(command.instance_id, command.idempotency_key)
        self._head = record_head(
            instance_id=command.instance_id,
            key=command.idempotency_key,
            command_id=command.id,
            replay_count=command.replay_count,
            fingerprint=self.fingerprint,
            correlation_id=command.correlation_id,
            action=command.action,
        )
        self.first_at: float | None = None
        self.attempts = 0

    @property
    def started(self) -> bool:
        """Whether a record of this command exists (a call was started)."""
        return self.first_at is not None

    def decide(self) -> Decision:
        command = self.command
        return self.state.decide(
            instance_id=command.instance_id,
            key=command.idempotency_key,
            command_id=command.id,
            replay_count=command.replay_count,
            fingerprint=self.fingerprint,
            now=self._clock.time(),
            override_unknown=command.override_unknown,
            safe_to_repeat=command.spec.is_idempotent_method,
        )

    def begin(self) -> None:
        self.state.begin(self.command.instance_id, self.command.idempotency_key, self.fingerprint)

    def end(self) -> None:
        self.state.end(self.command.instance_id, self.command.idempotency_key)

    async def call_starting(self) -> None:
        now = self._clock.time()
        self.attempts += 1
        if self.first_at is None:
            self.first_at = now
        await self._write(StateStatus.IN_PROGRESS, now)

    async def not_sent(self) -> None:
        await self._write(StateStatus.NOT_SENT, self._clock.time())

    async def finished(self, outcome: Outcome, *, attempts: int | None = None) -> None:
        """The terminal record, once the result is out (only for a command with calls, or one
        whose earlier owner left a call unanswered)."""
        status = _TERMINAL_OF.get(outcome.status)
        if status is None:
            return
        error = outcome.error
        await self._write(
            status,
            self._clock.time(),
            message_id=outcome.message_id,
            error=(error.code, error.message, error.retryable) if error else None,
            attempts=outcome.attempts if attempts is None else attempts,
            settled=True,
        )

    async def _write(
        self,
        status: StateStatus,
        now: float,
        *,
        message_id: str | None = None,
        error: tuple[str, str, bool] | None = None,
        attempts: int | None = None,
        settled: bool = False,
    ) -> None:
        command = self.command
        event = StateEvent(
            instance_id=command.instance_id,
            key=command.idempotency_key,
            status=status,
            command_id=command.id,
            replay_count=command.replay_count,
            fingerprint=self.fingerprint,
            recorded_at=now,
            attempts=self.attempts if attempts is None else attempts,
            message_id=message_id,
            error=error,
            first_attempt_at=self.first_at,
        )
        value = encode_record(self._head, event)
        write = self._log.write_settled if settled else self._log.write
        try:
            await write(self.partition, self._key, value)
        except KafkaError:  # the retrying path only when needed: one coroutine less per write
            await self._publish(lambda: write(self.partition, self._key, value))
        self.state.apply(event, now)
