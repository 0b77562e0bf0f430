"""Running one job against its partition's idempotency state, to exactly one published outcome.

The state decides first (docs/contract.md "Idempotency and replay"): a re-delivered record of a
finished command is only marked done (its result is out already), a duplicate or a conflict is
answered from it, a command still running in another lane of this worker is waited for, one an
earlier owner may have sent is reconciled; anything else is executed, its state records written
around each call, and concluded: result (and dead letter) published, then the terminal record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from wawp_gateway.core.config import Settings
from wawp_gateway.core.contracts import DlqReason, ErrorInfo, ResultStatus
from wawp_gateway.core.errors import CallRefused, CommandRejected, GatewayError
from wawp_gateway.worker.jobs import CallContext, CallFlag, Job, JobCalls, JobPacer, SlotReturning
from wawp_gateway.worker.outputs import ReplyInfo
from wawp_gateway.worker.pipeline import Outcome, maybe_sent, process
from wawp_gateway.worker.publishing import Publisher
from wawp_gateway.worker.state.idempotency import PartitionState, Verdict
from wawp_gateway.worker.state.ledger import (
    JobLedger,
    ambiguous_outcome,
    answer_from_state,
    conflict_outcome,
)
from wawp_gateway.worker.state.reconcile import ReconcileRule, reconcile
from wawp_gateway.worker.state.statelog import StateLog

__all__ = ["Execution"]

log = structlog.get_logger(__name__)


def _unknown_instance(attempts: int, message: str) -> Outcome:
    """No call started for a command of an instance the registry does not (or no longer)
    know: ``rejected``; a retry of one that had made calls is ``failed``. Dead-lettered
    ``unknown_instance`` either way, for a replay once the instance is back."""
    return Outcome(
        status=ResultStatus.REJECTED if attempts == 0 else ResultStatus.FAILED,
        attempts=attempts,
        error=ErrorInfo(code="unknown_instance", message=message, retryable=False),
        dlq_reason=DlqReason.UNKNOWN_INSTANCE,
    )


class Execution:
    """Runs the worker's jobs. Without a state log it keeps no idempotency records."""

    def __init__(
        self,
        settings: Settings,
        context: CallContext,
        publisher: Publisher,
        *,
        states: dict[int, PartitionState],
        state_log: StateLog | None,
        done: Callable[[TopicPartition, int], None],
    ) -> None:
        """``states`` is the worker's own map of restored partitions, kept up to date by it;
        ``done`` marks a record's offset done (for a job cut off mid-call)."""
        self._settings = settings
        self._context = context
        self._publisher = publisher
        self._states = states
        self._state_log = state_log
        self._done = done
        self._key_done: dict[tuple[str, str], asyncio.Event] = {}
        # Per instance and kind: its session and auth actions have slots of their own, so sends
        # held for a session that is down (each holding a slot while it waits) never keep out
        # the command that repairs it (docs/contract.md "Held instances").
        self._instance_slots: dict[tuple[str, bool], asyncio.Semaphore] = {}

    async def run(self, job: Job) -> bool:
        """Run one command and publish its outcome; False when it was refused (not started)."""
        command = job.command
        if self._state_log is not None and job.tp.partition not in self._states:
            return False  # not restored: the worker admits no such record (a safety net)
        ledger = self._ledger(job)
        if ledger is not None:
            answered = await self._answer_from_state(job, ledger)
            if answered:
                return True
            ledger.begin()
        try:
            kind = (command.instance_id, command.spec.bypasses_circuit)
            instance_slots = self._instance_slots.get(kind)
            if instance_slots is None:
                instance_slots = self._instance_slots[kind] = asyncio.Semaphore(
                    self._settings.engine.max_in_flight_per_instance
                )
            outcome: Outcome | None
            if await self._instance_confirmed(command.instance_id, job.received_mono):
                async with instance_slots:
                    outcome = await self._execute(job, ledger)
            else:
                outcome = _unknown_instance(0, "instance is not configured on this gateway")
            if outcome is None:
                return False
            if (
                outcome.status is ResultStatus.OUTCOME_UNKNOWN
                and ledger is not None
                and ledger.first_at is not None
            ):
                outcome = await self._reconciled(job, outcome, ledger.first_at)
            await self._conclude(job, outcome, ledger)
        finally:
            if ledger is not None:
                self._end(ledger)
        context = self._context
        context.metrics.command_duration_of(command.action).observe(
            context.clock.monotonic() - job.received_mono
        )
        return True

    async def _instance_confirmed(self, instance_id: str, received_mono: float) -> bool:
        """Whether the registry knows the instance, having read its topic to the end first
        when it did not (docs/contract.md "Instance registry": read your writes)."""
        registry = self._context.registry
        if registry.is_known(instance_id):  # the usual case: no timer for a catch-up
            return True
        try:
            async with asyncio.timeout(self._settings.kafka.request_timeout_ms / 1000):
                return await registry.confirm(instance_id, received_at=received_mono)
        except (GatewayError, KafkaError, TimeoutError) as exc:
            # The registry cannot be read to its end now: the command is rejected (and
            # dead-lettered, so it can be replayed) rather than held without a bound.
            log.warning("instances.catch_up_failed", error_type=type(exc).__name__)
            return False

    def _ledger(self, job: Job) -> JobLedger | None:
        state = self._states.get(job.tp.partition)
        if self._state_log is None or state is None:
            return None
        return JobLedger(
            job.command,
            job.tp.partition,
            state,
            self._state_log,
            self._context.clock,
            self._publisher.until_published,
        )

    async def _answer_from_state(self, job: Job, ledger: JobLedger) -> bool:
        """Settle the command from the idempotency store when it says so; False: execute it."""
        command = job.command
        metrics = self._context.metrics
        key = (command.instance_id, command.idempotency_key)
        waited = False
        while True:
            decision = ledger.decide()
            if decision.verdict is not Verdict.WAIT:
                break
            if not waited:
                waited = True
                metrics.idempotency_hits_of("wait").inc()
            # The same command runs in another lane of this worker: its outcome decides.
            done = self._key_done.setdefault(key, asyncio.Event())
            await done.wait()
        entry = decision.entry
        if decision.verdict is Verdict.EXECUTE:
            return False
        metrics.idempotency_hits_of(decision.verdict.value).inc()
        if decision.verdict is Verdict.REDELIVERED:
            return True  # its result was acknowledged before its terminal record: nothing to do
        if decision.verdict is Verdict.CONFLICT:
            await self._conclude(job, conflict_outcome(), None)
        elif decision.verdict is Verdict.DUPLICATE and entry is not None:
            await self._conclude(job, answer_from_state(entry), None)
        elif entry is not None:  # ambiguous: an earlier owner's call may have reached Wawp
            ledger.begin()
            ledger.first_at = entry.first_attempt_at or entry.recorded_at
            ledger.attempts = entry.attempts
            try:
                outcome = await self._reconciled(job, ambiguous_outcome(entry), ledger.first_at)
                await self._conclude(job, outcome, ledger)
            finally:
                self._end(ledger)
            log.warning("command.ambiguous", command_id=command.id, action=command.action)
        return True

    def _end(self, ledger: JobLedger) -> None:
        ledger.end()
        key = (ledger.command.instance_id, ledger.command.idempotency_key)
        done = self._key_done.pop(key, None)
        if done is not None:
            done.set()

    async def _reconciled(self, job: Job, outcome: Outcome, first_at: float) -> Outcome:
        """A maybe-sent message looked up in its chat, where reconciliation is enabled."""
        settings = self._settings.reconcile
        if not settings.enabled or outcome.status is not ResultStatus.OUTCOME_UNKNOWN:
            return outcome
        pacer = JobPacer(self._context, job)

        async def turn(give_up_at: float) -> bool:
            try:
                return await pacer.before_call(job.command, give_up_at=give_up_at)
            except CallRefused:
                return False

        try:
            return await reconcile(
                job.command,
                outcome,
                first_attempt_at=first_at,
                wawp=SlotReturning(self._context, pacer),
                clock=self._context.clock,
                rule=ReconcileRule(settings.window_s, settings.interval_s, settings.lookup_limit),
                turn=turn,
            )
        finally:
            pacer.release_slot()

    async def _conclude(self, job: Job, outcome: Outcome, ledger: JobLedger | None) -> None:
        """Publish the result (and dead letter), then the terminal state record."""
        reply = ReplyInfo.of(job.command)
        publisher = self._publisher
        try:
            await publisher.publish_outcome(job.envelope, reply, outcome, job.received_at)
        except KafkaError:  # retried until it gets out (one coroutine less on the usual path)
            await publisher.until_published(
                lambda: publisher.publish_outcome(job.envelope, reply, outcome, job.received_at)
            )
        if ledger is not None and ledger.started:
            await ledger.finished(outcome)

    async def _execute(self, job: Job, ledger: JobLedger | None) -> Outcome | None:
        command = job.command
        context = self._context
        flag = CallFlag()
        pacer = JobPacer(context, job)
        try:
            return await process(
                command,
                JobCalls(context, job, flag, ledger),
                context.policy,
                context.clock,
                received_monotonic=job.received_mono,
                pacer=pacer,
            )
        except CallRefused:
            return None
        except CommandRejected as exc:  # the instance was removed before a call started
            return _unknown_instance(flag.calls, exc.message)
        except asyncio.CancelledError:
            if flag.in_flight:
                context.pacer.gate(command.instance_id).release_unused_turn()
            if flag.in_flight and not command.spec.is_idempotent_method:
                # Cut off mid-call by a revoke or shutdown bound: Wawp may have acted.
                outcome = maybe_sent(flag.calls, "the call was cut off by a revoke or shutdown")
                await asyncio.shield(self._conclude(job, outcome, ledger))
                self._done(job.tp, job.envelope.offset)
            raise
        except Exception as exc:  # the one per-message boundary: a bug fails one command only
            log.error(
                "message.failed",
                command_id=command.id,
                action=command.action,
                topic=job.tp.topic,
                partition=job.tp.partition,
                offset=job.envelope.offset,
                exc_info=True,
            )
            if flag.in_flight:
                context.pacer.gate(command.instance_id).release_unused_turn()
            if flag.in_flight and not command.spec.is_idempotent_method:
                return maybe_sent(flag.calls, f"the gateway failed mid-call ({type(exc).__name__})")
            return Outcome(
                status=ResultStatus.FAILED,
                attempts=flag.calls,
                error=ErrorInfo(
                    code="internal_error",
                    message=f"the gateway failed while handling the command ({type(exc).__name__})",
                    retryable=True,
                ),
                dlq_reason=DlqReason.INTERNAL,
            )
        finally:
            pacer.release_slot()  # whatever ended the command: refused, cut off, failed
