"""The processing engine: key-ordered lanes, bounded in-flight work, pacing, one outcome each.

The worker (``worker.py``) feeds it fetched records and asks it what to commit and which
partitions to pause; the engine runs one task per busy lane. Within a lane commands run in
order; a command waiting for a rate token, a circuit or a retry blocks only its own lane.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from wawp_gateway.core.config import Settings
from wawp_gateway.core.contracts import DlqReason, ErrorInfo, ResultStatus
from wawp_gateway.core.errors import (
    CallRefused,
    WawpError,
    WawpMaybeProcessed,
    WawpNotProcessed,
    WawpRateLimited,
)
from wawp_gateway.core.membership import GroupStanding
from wawp_gateway.core.metrics import Metrics, status_class
from wawp_gateway.core.partitioning import partition_for
from wawp_gateway.wawp.catalog import ActionSpec
from wawp_gateway.worker.intake import (
    Envelope,
    OutboundCommand,
    Rejection,
    Undecodable,
    decode,
    header,
)
from wawp_gateway.worker.lanes import LaneBook, LaneKey, Limits
from wawp_gateway.worker.offsets import OffsetTracker
from wawp_gateway.worker.outputs import Outputs, ReplyInfo
from wawp_gateway.worker.pacing import CallSlots, Gate, GateSettings, Pacer
from wawp_gateway.worker.pipeline import Clock, Outcome, WawpPort, maybe_sent, process
from wawp_gateway.worker.retry import RetryPolicy
from wawp_gateway.worker.state.idempotency import PartitionState, Verdict
from wawp_gateway.worker.state.ledger import (
    JobLedger,
    ambiguous_outcome,
    answer_from_state,
    conflict_outcome,
)
from wawp_gateway.worker.state.reconcile import ReconcileRule, reconcile
from wawp_gateway.worker.state.statelog import StateLog

__all__ = ["REROUTED_HEADER", "Engine"]

log = structlog.get_logger(__name__)

REROUTED_HEADER = "gateway-rerouted"
# Answers that say the instance itself is not working (they open its circuit).
_SESSION_DOWN_CODES = frozenset({"session_not_working"})
_PUBLISH_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class _Job:
    tp: TopicPartition
    envelope: Envelope
    command: OutboundCommand
    received_at: datetime
    received_mono: float


class _CallFlag:
    """Counts calls and knows whether one is in flight, for a crash or cancel mid-call."""

    __slots__ = ("calls", "in_flight")

    def __init__(self) -> None:
        self.in_flight = False
        self.calls = 0


class _JobCalls:
    """The pipeline's ``WawpPort`` for one job: flags the call in flight for a cancel or crash
    mid-call, and writes the job's state records around each call."""

    def __init__(self, engine: Engine, job: _Job, flag: _CallFlag, ledger: JobLedger | None):
        self._engine = engine
        self._job = job
        self._flag = flag
        self._ledger = ledger

    async def call(self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str) -> Any:
        ledger = self._ledger
        if ledger is not None:
            await self._record_start(ledger)
        else:
            await self._engine.send_paced(instance_id)
        flag = self._flag
        flag.in_flight = True
        flag.calls += 1
        try:
            reply = await self._engine.wawp.call(spec, params, instance_id=instance_id)
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
            await self._engine.send_paced(self._job.command.instance_id)
            self._engine.check_may_call(self._job.tp)
        except CallRefused:
            self._engine.pacer.gate(self._job.command.instance_id).release_unused_turn()
            await ledger.not_sent()
            raise
        except asyncio.CancelledError:
            # Cut off before the call: say so, or the next owner takes it for a maybe-sent.
            await asyncio.shield(ledger.not_sent())
            raise


class _JobPacer:
    """The pipeline's ``CallPacer`` for one job: the instance's gate, and the hand-over rule
    that no call starts for a partition this worker no longer owns (or while stopping)."""

    def __init__(self, engine: Engine, job: _Job) -> None:
        self._engine = engine
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
        engine = self._engine
        if self._last_error is not None:  # the call about to be paced is a retry
            engine.metrics.retries_of(_retry_reason(self._last_error)).inc()
            self._last_error = None
        engine.check_may_call(self._job.tp)
        self.release_slot()  # a reconciliation's previous lookup
        if give_up_at <= engine.clock.monotonic():
            return False
        gate = engine.pacer.gate(command.instance_id)
        bypass = command.spec.bypasses_circuit
        # The usual case when busy: every slot taken, the instance free. Queue for a slot, then
        # take the turn with it; only an instance that is not free makes its commands wait in
        # its gate (which takes their slot once their turn is due).
        await engine.call_slots.take()
        try:
            engine.check_may_call(self._job.tp)  # the partition may have gone while it queued
        except CallRefused:
            engine.call_slots.release()
            raise
        if gate.try_acquire(bypass=bypass, holding_slot=True):
            self._gate = gate
            return True
        engine.call_slots.release()
        timeout = give_up_at - engine.clock.monotonic()
        if timeout <= 0:
            return False
        try:
            waited = await asyncio.wait_for(gate.acquire(bypass=bypass), timeout)
        except TimeoutError:
            return False
        self._gate = gate
        engine.metrics.rate_limit_wait.observe(waited)
        try:
            engine.check_may_call(self._job.tp)
        except CallRefused:
            gate.release_unused_turn()
            raise
        return True

    def turn_unused(self, command: OutboundCommand) -> None:
        self.release_slot()
        self._engine.pacer.gate(command.instance_id).release_unused_turn()

    def after_call(self, command: OutboundCommand, error: WawpError | None) -> None:
        self.release_slot()  # a retry's back-off must not hold it
        self._last_error = error
        gate = self._engine.pacer.gate(command.instance_id)
        if error is None:
            gate.circuit.record_success()
        elif isinstance(error, WawpRateLimited):
            gate.pause(error.retry_after_s or self._engine.policy.backoff_initial_s)
        elif isinstance(error, WawpNotProcessed | WawpMaybeProcessed) or (
            error.code in _SESSION_DOWN_CODES
        ):
            gate.circuit.record_failure(self._engine.clock.monotonic())
        else:
            gate.circuit.record_neutral()


class _SlotReturning:
    """The ``WawpPort`` of a reconciliation: each lookup gives its call slot back once
    answered, not after the wait before the next one."""

    def __init__(self, engine: Engine, pacer: _JobPacer) -> None:
        self._engine = engine
        self._wawp = engine.wawp
        self._pacer = pacer

    async def call(self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str) -> Any:
        try:
            await self._engine.send_paced(instance_id)
            return await self._wawp.call(spec, params, instance_id=instance_id)
        finally:
            self._pacer.release_slot()


def _retry_reason(error: WawpError) -> str:
    if isinstance(error, WawpRateLimited):
        return "rate_limited"
    return status_class(error.http_status) if error.http_status else "transport"


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        outputs: Outputs,
        wawp: WawpPort,
        metrics: Metrics,
        clock: Clock,
        partitions_of: Callable[[str], int | None],
    ) -> None:
        self.settings = settings
        self.outputs = outputs
        self.metrics = metrics
        self.clock = clock
        self.wawp = wawp
        self._partitions_of = partitions_of
        # Idempotency: the state of each owned partition number, restored before it runs.
        self.state_log: StateLog | None = None
        self.states: dict[int, PartitionState] = {}
        self.standing: GroupStanding | None = None
        self._key_done: dict[tuple[str, str], asyncio.Event] = {}
        engine = settings.engine
        self.policy = RetryPolicy(
            max_attempts=settings.retry.max_attempts,
            max_elapsed_s=settings.retry.max_elapsed_s,
            backoff_initial_s=settings.retry.backoff_initial_s,
            backoff_max_s=settings.retry.backoff_max_s,
            retry_after_max_s=settings.retry.retry_after_max_s,
        )
        # Held by a call from its grant to its end: a command waiting for its instance (tokens,
        # circuit, Retry-After, a retry's back-off) holds none, so it cannot crowd others out.
        self.call_slots = CallSlots(engine.max_in_flight)
        self.pacer = Pacer(
            settings.limits_for,
            GateSettings(
                circuit_threshold=engine.circuit_threshold,
                circuit_cooldown_s=engine.circuit_cooldown_s,
                jitter_s=engine.send_jitter_ms / 1000,
            ),
            clock.monotonic,
            slots=self.call_slots,
        )
        self.lanes: LaneBook[_Job, TopicPartition] = LaneBook(
            Limits(engine.max_buffered_per_partition, engine.max_buffered_per_instance)
        )
        self.trackers: dict[TopicPartition, OffsetTracker] = {}
        self._owned: set[TopicPartition] = set()
        self._stopping = False
        self._instance_slots: dict[str, asyncio.Semaphore] = {}
        self._lane_tasks: dict[LaneKey, asyncio.Task[None]] = {}
        self._side_tasks: dict[asyncio.Task[None], TopicPartition] = {}
        self._instances_of: dict[TopicPartition, set[str]] = {}
        self.on_progress: Callable[[TopicPartition], None] = lambda tp: None
        # Read at scrape time: a gauge updated twice per command costs a lock each time.
        metrics.in_flight.set_function(lambda: self.call_slots.in_use)
        metrics.buffered.set_function(self.lanes.total)
        metrics.state_keys.set_function(lambda: sum(len(s) for s in self.states.values()))
        metrics.oldest_pending_age.set_function(self._oldest_pending_age)
        self._watch_circuits(metrics, set(settings.instances.instances))

    def _oldest_pending_age(self) -> float:
        oldest = min((job.received_mono for job in self.lanes.heads()), default=None)
        return 0.0 if oldest is None else max(0.0, self.clock.monotonic() - oldest)

    def _watch_circuits(self, metrics: Metrics, listed: set[str]) -> None:
        """``gateway_circuit_open``, read at scrape time: one series per listed instance and
        one for all others (labels stay bounded by the instances file)."""

        def held(instance: str) -> Callable[[], float]:
            # One gate lookup per series: a scrape reads every listed instance.
            return lambda: float(self.pacer.is_held(instance))

        for instance in listed:
            metrics.circuit_open.labels(instance).set_function(held(instance))
        metrics.circuit_open.labels("other").set_function(
            lambda: float(any(i not in listed for i in self.pacer.held_instances()))
        )

    # -- ownership ---------------------------------------------------------------------------

    def assign(self, partitions: set[TopicPartition]) -> None:
        self._owned |= partitions

    def check_may_call(self, tp: TopicPartition) -> None:
        if self._stopping or tp not in self._owned:
            raise CallRefused("partition revoked or worker stopping")
        problem = self.standing.problem() if self.standing is not None else None
        if problem is not None:
            raise CallRefused(problem)

    async def send_paced(self, instance_id: str) -> None:
        """Wait (rarely) until the instance may be sent a call, then count it as sent."""
        gate = self.pacer.gate(instance_id)
        while (wait := gate.until_send()) > 0:
            await self.clock.sleep(wait)
        gate.sending()

    async def revoke(self, partitions: set[TopicPartition], bound_s: float) -> None:
        """No new call for ``partitions``; wait for their in-flight work at most ``bound_s``,
        cancel the rest (a POST cut off mid-call is reported outcome_unknown)."""
        self._owned -= partitions
        tasks = [t for k, t in self._lane_tasks.items() if k[0] in partitions]
        tasks += [t for t, tp in self._side_tasks.items() if tp in partitions]
        await self._wait_or_cancel(tasks, bound_s)

    def forget(self, partitions: set[TopicPartition]) -> None:
        """After the revoke's commit: drop what is left of ``partitions``."""
        for tp in partitions:
            self.lanes.drop_partition(tp)
            self.trackers.pop(tp, None)
            instances = self._instances_of.pop(tp, set())
            still_used = set().union(*self._instances_of.values()) if self._instances_of else set()
            self.pacer.forget(instances - still_used)

    async def stop(self, grace_s: float) -> None:
        """Start no new command or call; let in-flight ones finish within ``grace_s``."""
        self._stopping = True
        await self._wait_or_cancel([*self._lane_tasks.values(), *self._side_tasks], grace_s)
        self.pacer.close()

    async def _wait_or_cancel(self, tasks: list[asyncio.Task[None]], bound_s: float) -> None:
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=max(bound_s, 0.0))
        for task in pending:
            task.cancel()
        if pending:
            log.warning("work.cancelled", tasks=len(pending), bound_s=bound_s)
            await asyncio.wait(pending)

    # -- intake ------------------------------------------------------------------------------

    def admit(self, tp: TopicPartition, record: Any) -> None:
        """Take one fetched record; it is done once everything it leads to was published."""
        self.trackers.setdefault(tp, OffsetTracker()).add(record.offset)
        envelope = Envelope(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple(record.headers or ()),
        )
        received_at, received_mono = self.clock.now(), self.clock.monotonic()
        item = decode(envelope, is_known_instance=self.settings.is_known_instance)
        if isinstance(item, Undecodable):
            self._side(tp, envelope, lambda: self.outputs.dead_letter_undecodable(envelope, item))
            return
        target = self._reroute_target(envelope, item)
        if target is not None:
            self._side(tp, envelope, lambda: self._forward(envelope, item, target))
            return
        if isinstance(item, Rejection):
            outcome = Outcome(
                status=ResultStatus.REJECTED,
                attempts=0,
                error=ErrorInfo(code=item.error.code, message=item.error.message, retryable=False),
                dlq_reason=DlqReason(item.error.dlq_reason),
            )
            reply = ReplyInfo.of(item)
            self._side(tp, envelope, lambda: self._finish(envelope, reply, outcome, received_at))
            return
        self._instances_of.setdefault(tp, set()).add(item.instance_id)
        if (
            self.lanes.instance_is_full(item.instance_id)
            and self.pacer.gate(item.instance_id).is_held
        ):
            # A held instance must not fill the partition's buffer and stall its neighbours.
            outcome = Outcome(
                status=ResultStatus.FAILED,
                attempts=0,
                error=ErrorInfo(
                    code="instance_unavailable",
                    message="the instance is held (circuit open) and its buffer is full",
                    retryable=True,
                ),
                dlq_reason=DlqReason.RETRIES_EXHAUSTED,
            )
            held = ReplyInfo.of(item)
            self._side(tp, envelope, lambda: self._finish(envelope, held, outcome, received_at))
            return
        chat = item.params.get("chatId")
        job = _Job(tp, envelope, item, received_at, received_mono)
        if self.lanes.add(tp, item.instance_id, chat if isinstance(chat, str) else None, job):
            key = self.lanes.key(tp, item.instance_id, chat if isinstance(chat, str) else None)
            self._lane_tasks[key] = asyncio.create_task(self._run_lane(key, job))

    def _side(
        self, tp: TopicPartition, envelope: Envelope, publish: Callable[[], Awaitable[None]]
    ) -> None:
        """Work outside any lane (dead letters, rejections, forwards): order does not matter."""

        async def run() -> None:
            await self._published(publish)
            self._done(tp, envelope.offset)

        task = asyncio.create_task(run())
        self._side_tasks[task] = tp
        task.add_done_callback(self._side_tasks.pop)

    def _reroute_target(self, envelope: Envelope, item: OutboundCommand | Rejection) -> int | None:
        if item.instance_id is None or header(envelope, REROUTED_HEADER) == "true":
            return None
        count = self._partitions_of(envelope.topic)
        if not count:
            return None
        target = partition_for(item.instance_id, count)
        return None if target == envelope.partition else target

    async def _forward(
        self, envelope: Envelope, item: OutboundCommand | Rejection, target: int
    ) -> None:
        assert item.instance_id is not None
        headers = [*envelope.headers, (REROUTED_HEADER, b"true")]
        await self.outputs.send(
            envelope.topic, envelope.value, item.instance_id.encode(), headers, partition=target
        )
        self.metrics.rerouted.inc()
        log.warning("command.rerouted", from_partition=envelope.partition, to_partition=target)

    # -- lanes -------------------------------------------------------------------------------

    async def _run_lane(self, key: LaneKey, first: _Job) -> None:
        job: _Job | None = first
        try:
            while job is not None and not self._stopping and job.tp in self._owned:
                # Every line logged while the command runs (calls, retries, reconciliation)
                # names it; the lane task's own context, so lanes do not mix.
                structlog.contextvars.bind_contextvars(
                    command_id=job.command.id, action=job.command.action
                )
                if not await self._run_job(job):
                    break  # refused: left for the partition's next owner
                self._done(job.tp, job.envelope.offset)
                job = self.lanes.finish(key)
        finally:
            if self._lane_tasks.get(key) is asyncio.current_task():
                del self._lane_tasks[key]

    async def _run_job(self, job: _Job) -> bool:
        """Run one command and publish its outcome; False when it was refused (not started)."""
        command = job.command
        if self.state_log is not None and job.tp.partition not in self.states:
            return False  # not restored: the worker admits no such record (a safety net)
        ledger = self._ledger(job)
        if ledger is not None:
            answered = await self._answer_from_state(job, ledger)
            if answered:
                return True
            ledger.begin()
        try:
            instance_slots = self._instance_slots.get(command.instance_id)
            if instance_slots is None:
                instance_slots = self._instance_slots[command.instance_id] = asyncio.Semaphore(
                    self.settings.engine.max_in_flight_per_instance
                )
            async with instance_slots:
                outcome = await self._execute(job, ledger)
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
        self.metrics.command_duration_of(command.action).observe(
            self.clock.monotonic() - job.received_mono
        )
        return True

    def _ledger(self, job: _Job) -> JobLedger | None:
        state = self.states.get(job.tp.partition)
        if self.state_log is None or state is None:
            return None
        return JobLedger(
            job.command, job.tp.partition, state, self.state_log, self.clock, self._published
        )

    async def _answer_from_state(self, job: _Job, ledger: JobLedger) -> bool:
        """Settle the command from the idempotency store when it says so; False: execute it."""
        command = job.command
        key = (command.instance_id, command.idempotency_key)
        waited = False
        while True:
            decision = ledger.decide()
            if decision.verdict is not Verdict.WAIT:
                break
            if not waited:
                waited = True
                self.metrics.idempotency_hits_of("wait").inc()
            # The same command runs in another lane of this worker: its outcome decides.
            done = self._key_done.setdefault(key, asyncio.Event())
            await done.wait()
        entry = decision.entry
        if decision.verdict is Verdict.EXECUTE:
            return False
        self.metrics.idempotency_hits_of(decision.verdict.value).inc()
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

    async def _reconciled(self, job: _Job, outcome: Outcome, first_at: float) -> Outcome:
        """A maybe-sent message looked up in its chat, where reconciliation is enabled."""
        settings = self.settings.reconcile
        if not settings.enabled or outcome.status is not ResultStatus.OUTCOME_UNKNOWN:
            return outcome
        pacer = _JobPacer(self, job)

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
                wawp=_SlotReturning(self, pacer),
                clock=self.clock,
                rule=ReconcileRule(settings.window_s, settings.interval_s, settings.lookup_limit),
                turn=turn,
            )
        finally:
            pacer.release_slot()

    async def _conclude(self, job: _Job, outcome: Outcome, ledger: JobLedger | None) -> None:
        """Publish the result (and dead letter), then the terminal state record."""
        reply = ReplyInfo.of(job.command)
        try:
            await self._finish(job.envelope, reply, outcome, job.received_at)
        except KafkaError:  # retried until it gets out (one coroutine less on the usual path)
            await self._published(
                lambda: self._finish(job.envelope, reply, outcome, job.received_at)
            )
        if ledger is not None and ledger.started:
            await ledger.finished(outcome)

    async def _execute(self, job: _Job, ledger: JobLedger | None) -> Outcome | None:
        command = job.command
        flag = _CallFlag()
        pacer = _JobPacer(self, job)
        try:
            return await process(
                command,
                _JobCalls(self, job, flag, ledger),
                self.policy,
                self.clock,
                received_monotonic=job.received_mono,
                pacer=pacer,
            )
        except CallRefused:
            return None
        except asyncio.CancelledError:
            if flag.in_flight:
                self.pacer.gate(command.instance_id).release_unused_turn()
            if flag.in_flight and not command.spec.is_idempotent_method:
                # Cut off mid-call by a revoke or shutdown bound: Wawp may have acted.
                outcome = maybe_sent(flag.calls, "the call was cut off by a revoke or shutdown")
                await asyncio.shield(self._conclude(job, outcome, ledger))
                self._done(job.tp, job.envelope.offset)
            raise
        except Exception as exc:  # the one per-message boundary (STYLE.md)
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
                self.pacer.gate(command.instance_id).release_unused_turn()
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

    async def _finish(
        self, envelope: Envelope, reply: ReplyInfo, outcome: Outcome, received_at: datetime
    ) -> None:
        published_at = self.clock.now()
        await self.outputs.publish(envelope, reply, outcome, received_at, published_at)
        log.info(
            "command.processed",
            command_id=reply.command_id,
            action=reply.action,
            outcome=outcome.status.value,
            attempts=outcome.attempts,
            error_code=outcome.error.code if outcome.error else None,
            duration_ms=round((published_at - received_at).total_seconds() * 1000, 1),
        )

    async def _published(self, publish: Callable[[], Awaitable[None]]) -> None:
        """Publish, retrying while the broker refuses: an output that never got out must hold
        its offset back, not vanish (a retry may repeat a result: results are at-least-once)."""
        while True:
            try:
                await publish()
                return
            except KafkaError as exc:
                log.warning("output.publish_failed", error=type(exc).__name__)
                await self.clock.sleep(_PUBLISH_RETRY_S)

    def _done(self, tp: TopicPartition, offset: int) -> None:
        tracker = self.trackers.get(tp)
        if tracker is not None:
            tracker.done(offset)
        self.on_progress(tp)

    # -- reporting ---------------------------------------------------------------------------

    def committable(self) -> dict[TopicPartition, int]:
        offsets = {}
        for tp, tracker in self.trackers.items():
            position = tracker.committable()
            if position is not None and tp in self._owned:
                offsets[tp] = position
        return offsets

    def has_full_instance(self, tp: TopicPartition) -> bool:
        """Whether an instance of ``tp`` has used up its buffer (the partition must wait)."""
        instances = self._instances_of.get(tp)
        return instances is not None and self.lanes.any_instance_full(instances)

    def expire_state(self) -> int:
        """Forget idempotency records past their retention."""
        now = self.clock.now().timestamp()
        return sum(state.expire(now) for state in self.states.values())

    def busy(self) -> int:
        return len(self._lane_tasks) + len(self._side_tasks)
