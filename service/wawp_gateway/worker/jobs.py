"""One command as a job: how its calls go through the pacer, the call slots and its ledger.

The pipeline sees Wawp and the pacing only through the ports given here: ``JobCalls`` writes the
job's state records around each call, ``JobPacer`` holds a call slot from the grant to the end of
the call and refuses a call for a partition no longer owned (docs/contract.md "Consumption and
hand-over"), ``SlotReturning`` does the same for a reconciliation's lookups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from aiokafka import TopicPartition

from wawp_gateway.core.errors import (
    CallRefused,
    CommandRejected,
    WawpError,
    WawpMaybeProcessed,
    WawpNotProcessed,
    WawpRateLimited,
)
from wawp_gateway.core.metrics import Metrics, status_class
from wawp_gateway.core.registry import InstanceRegistry
from wawp_gateway.core.tracing import add_event
from wawp_gateway.core.values import immutable
from wawp_gateway.wawp.catalog import ActionSpec
from wawp_gateway.worker.intake import Envelope, OutboundCommand
from wawp_gateway.worker.pacing import CallSlots, Gate, Pacer
from wawp_gateway.worker.pipeline import Clock, WawpPort
from wawp_gateway.worker.retry import RetryPolicy
from wawp_gateway.worker.state.ledger import JobLedger

__all__ = ["CallContext", "CallFlag", "Job", "JobCalls", "JobPacer", "SlotReturning"]

# Answers that say the instance's session is down: they hold it at once (docs/contract.md
# "Held instances").
_SESSION_DOWN_CODES = frozenset({"session_not_working"})


@immutable
class Job:
    tp: TopicPartition
    envelope: Envelope
    command: OutboundCommand
    received_at: datetime
    received_mono: float


class CallContext(Protocol):
    """What a job's calls share with every other job of the worker."""

    @property
    def wawp(self) -> WawpPort: ...
    @property
    def pacer(self) -> Pacer: ...
    @property
    def call_slots(self) -> CallSlots: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def policy(self) -> RetryPolicy: ...
    @property
    def registry(self) -> InstanceRegistry: ...

    def check_may_call(self, tp: TopicPartition) -> None:
        """Raise ``CallRefused`` when no call may start for ``tp``."""
        ...


async def _send_paced(context: CallContext, instance_id: str) -> None:
    """Wait (rarely) until the instance may be sent a call, then count it as sent."""
    gate = context.pacer.gate(instance_id)
    while (wait := gate.until_send()) > 0:
        await context.clock.sleep(wait)
    gate.sending()


class CallFlag:
    """Counts calls and knows whether one is in flight, for a crash or cancel mid-call."""

    __slots__ = ("calls", "in_flight")

    def __init__(self) -> None:
        self.in_flight = False
        self.calls = 0


class JobCalls:
    """The pipeline's ``WawpPort`` for one job: flags the call in flight for a cancel or crash
    mid-call, and writes the job's state records around each call."""

    def __init__(self, context: CallContext, job: Job, flag: CallFlag, ledger: JobLedger | None):
        self._context = context
        self._job = job
        self._flag = flag
        self._ledger = ledger

    async def call(self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str) -> Any:
        ledger = self._ledger
        if ledger is not None:
            await self._record_start(ledger)
        else:
            await _send_paced(self._context, instance_id)
        flag = self._flag
        flag.in_flight = True
        flag.calls += 1
        try:
            reply = await self._context.wawp.call(spec, params, instance_id=instance_id)
        except WawpError as error:
            flag.in_flight = False  # an answer (or a mapped transport error) came back
            if ledger is not None and error.retryable and not error.maybe_processed:
                await ledger.not_sent()
            raise
        flag.in_flight = False
        return reply

    async def _record_start(self, ledger: JobLedger) -> None:
        """``in_progress``, acknowledged; the rate checked again (the acknowledgement took its
        time); then the last look at ownership before the call."""
        try:
            await ledger.call_starting()
            await _send_paced(self._context, self._job.command.instance_id)
            self._context.check_may_call(self._job.tp)
        except CallRefused:
            self._context.pacer.gate(self._job.command.instance_id).release_unused_turn()
            await ledger.not_sent()
            raise
        except asyncio.CancelledError:
            # Cut off before the call: say so, or the next owner takes it for a maybe-sent.
            await asyncio.shield(ledger.not_sent())
            raise


class JobPacer:
    """The pipeline's ``CallPacer`` for one job: the instance's gate, and the hand-over rule
    that no call starts for a partition this worker no longer owns (or while stopping)."""

    def __init__(self, context: CallContext, job: Job) -> None:
        self._context = context
        self._job = job
        self._last_error: WawpError | None = None
        self._gate: Gate | None = None  # set while this job holds a call slot

    def release_slot(self) -> None:
        """The call ended, or the turn went unused: give the call slot back (once)."""
        gate = self._gate
        if gate is not None:
            self._gate = None
            gate.release_slot()

    async def before_call(self, command: OutboundCommand, *, give_up_at: float) -> bool:
        context = self._context
        if self._last_error is not None:  # the call about to be paced is a retry
            context.metrics.retries_of(_retry_reason(self._last_error)).inc()
            self._last_error = None
        context.check_may_call(self._job.tp)
        self.release_slot()  # a reconciliation's previous lookup
        if give_up_at <= context.clock.monotonic():
            return False
        gate = context.pacer.gate(command.instance_id)
        bypass = command.spec.bypasses_circuit
        # The usual case when busy: every slot taken, the instance free. Queue for a slot, then
        # take the turn with it; only an instance that is not free makes its commands wait in
        # its gate (which takes their slot once their turn is due). A held instance's commands
        # go straight to the gate: they must not queue for a slot they would hand back.
        _check_still_configured(context, command)
        if not gate.holds(bypass):
            await context.call_slots.take()
            try:
                context.check_may_call(self._job.tp)  # the partition may have gone meanwhile
            except CallRefused:
                context.call_slots.release()
                raise
            if gate.try_acquire(bypass=bypass, holding_slot=True):
                self._gate = gate
                self._check_granted(command)
                return True
            context.call_slots.release()
        timeout = give_up_at - context.clock.monotonic()
        if timeout <= 0:
            return False
        try:
            # In this task (no wait_for task): from the ownership check to the waiter's place in
            # the gate nothing awaits, so a revoke or stop either refused it above or finds it.
            async with asyncio.timeout(timeout):
                waited = await gate.acquire(bypass=bypass, owner=self._job.tp)
        except TimeoutError:
            return False
        self._gate = gate
        context.metrics.rate_limit_wait.observe(waited)
        add_event("rate_limit.waited", {"wawp.rate_limit.wait_seconds": waited})
        try:
            context.check_may_call(self._job.tp)
        except CallRefused:
            gate.release_unused_turn()
            raise
        self._check_granted(command)
        return True

    def _check_granted(self, command: OutboundCommand) -> None:
        """The last look at the registry before a granted call: an instance removed while the
        command waited for its turn makes no call (docs/contract.md "Instance registry")."""
        try:
            _check_still_configured(self._context, command)
        except CommandRejected:
            self.turn_unused(command)
            raise

    def turn_unused(self, command: OutboundCommand) -> None:
        self.release_slot()
        self._context.pacer.gate(command.instance_id).release_unused_turn()

    def after_call(self, command: OutboundCommand, error: WawpError | None) -> None:
        self.release_slot()  # a retry's back-off must not hold it
        self._last_error = error
        gate = self._context.pacer.gate(command.instance_id)
        if error is None:
            gate.circuit.record_success()
        elif isinstance(error, WawpRateLimited):
            gate.pause(error.retry_after_s or self._context.policy.backoff_initial_s)
        elif error.code in _SESSION_DOWN_CODES:
            gate.circuit.trip(self._context.clock.monotonic())
        elif isinstance(error, WawpNotProcessed | WawpMaybeProcessed):
            gate.circuit.record_failure(self._context.clock.monotonic())
        else:
            gate.circuit.record_neutral()


class SlotReturning:
    """The ``WawpPort`` of a reconciliation: each lookup gives its call slot back once
    answered, not after the wait before the next one."""

    def __init__(self, context: CallContext, pacer: JobPacer) -> None:
        self._context = context
        self._wawp = context.wawp
        self._pacer = pacer

    async def call(self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str) -> Any:
        try:
            await _send_paced(self._context, instance_id)
            return await self._wawp.call(spec, params, instance_id=instance_id)
        finally:
            self._pacer.release_slot()


def _check_still_configured(context: CallContext, command: OutboundCommand) -> None:
    if not context.registry.is_known(command.instance_id):
        raise CommandRejected(
            "unknown_instance",
            "instance was removed from the registry before the call",
            dlq_reason="unknown_instance",
        )


def _retry_reason(error: WawpError) -> str:
    if isinstance(error, WawpRateLimited):
        return "rate_limited"
    return status_class(error.http_status) if error.http_status else "transport"
