"""The processing engine: key-ordered lanes, bounded in-flight work, one outcome each.

The consumer loop (``loop.py``) feeds it fetched records and asks it what to commit and which
partitions to pause; the engine runs one task per busy lane. Within a lane commands run in
order; a command waiting for a rate token, a circuit or a retry blocks only its own lane.
Where a record goes is ``admission``'s; how one job runs, ``execution``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiokafka import TopicPartition
from opentelemetry.trace import SpanKind

from wawp_gateway.core.config import Settings
from wawp_gateway.core.contracts import DlqReason, ErrorInfo, ResultStatus
from wawp_gateway.core.errors import CallRefused
from wawp_gateway.core.membership import GroupStanding
from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.registry import InstanceRegistry
from wawp_gateway.core.tracing import Attributes, Tracing
from wawp_gateway.worker.admission import Reroute, admission, envelope_of, forward, rejected
from wawp_gateway.worker.execution import Execution
from wawp_gateway.worker.intake import Envelope, OutboundCommand, Rejection, Undecodable
from wawp_gateway.worker.jobs import Job
from wawp_gateway.worker.lanes import LaneBook, LaneKey, Limits
from wawp_gateway.worker.offsets import OffsetTracker
from wawp_gateway.worker.outputs import Outputs, ReplyInfo
from wawp_gateway.worker.pacing import CallSlots, GateSettings, Pacer
from wawp_gateway.worker.pipeline import Clock, Outcome, WawpPort
from wawp_gateway.worker.publishing import Publisher
from wawp_gateway.worker.retry import RetryPolicy
from wawp_gateway.worker.sessions import SessionBook
from wawp_gateway.worker.state.idempotency import PartitionState
from wawp_gateway.worker.state.statelog import StateLog

__all__ = ["Engine"]

log = structlog.get_logger(__name__)


def _instance_unavailable() -> Outcome:
    return Outcome(
        status=ResultStatus.FAILED,
        attempts=0,
        error=ErrorInfo(
            code="instance_unavailable",
            message="the instance is held (session down or circuit open) and its buffer is full",
            retryable=True,
        ),
        dlq_reason=DlqReason.RETRIES_EXHAUSTED,
    )


_NO_ATTRIBUTES: Attributes = {}


def _consumer_attributes(
    envelope: Envelope, command: OutboundCommand | None, group: str
) -> Attributes:
    """OpenTelemetry's messaging attributes; the key is left out (it may be a phone number
    when a producer keyed by chat)."""
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": envelope.topic,
        "messaging.destination.partition.id": str(envelope.partition),
        "messaging.kafka.offset": envelope.offset,
        "messaging.consumer.group.name": group,
    }
    if command is not None:
        attributes["messaging.message.id"] = command.id
        attributes["wawp.action"] = command.action
        attributes["wawp.instance_id"] = command.instance_id
    return attributes


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
        state_log: StateLog | None = None,
        tracing: Tracing | None = None,
        sessions: SessionBook | None = None,
        registry: InstanceRegistry | None = None,
    ) -> None:
        """Without ``state_log`` the engine keeps no idempotency records; without ``sessions``
        no instance is held for its session status; without ``registry`` the instances are the
        file's alone."""
        self.settings = settings
        self._sessions = sessions
        self.registry = registry or InstanceRegistry(
            settings.instances,
            default_token=settings.wawp.access_token,
            allow_unlisted=settings.allow_unlisted_instances,
        )
        self.tracing = tracing or Tracing()
        self.outputs = outputs
        self.metrics = metrics
        self.clock = clock
        self.wawp = wawp
        self._partitions_of = partitions_of
        # Idempotency: the state of each owned partition number, restored before it runs.
        self.states: dict[int, PartitionState] = {}
        self.standing: GroupStanding | None = None
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
            self.registry.limits_for,
            GateSettings(
                circuit_threshold=engine.circuit_threshold,
                circuit_cooldown_s=engine.circuit_cooldown_s,
                jitter_s=engine.send_jitter_ms / 1000,
            ),
            clock.monotonic,
            slots=self.call_slots,
            session_down=self._session_holds,
        )
        if sessions is not None:
            sessions.listen(self._session_changed)
        self.lanes: LaneBook[Job, TopicPartition] = LaneBook(
            Limits(engine.max_buffered_per_partition, engine.max_buffered_per_instance)
        )
        self.trackers: dict[TopicPartition, OffsetTracker] = {}
        self._owned: set[TopicPartition] = set()
        self._stopping = False
        self._lane_tasks: dict[LaneKey, asyncio.Task[None]] = {}
        self._side_tasks: dict[asyncio.Task[None], TopicPartition] = {}
        self._instances_of: dict[TopicPartition, set[str]] = {}
        self.on_progress: Callable[[TopicPartition], None] = lambda tp: None
        self._publisher = Publisher(outputs, clock)
        self._execution = Execution(
            settings,
            self,
            self._publisher,
            states=self.states,
            state_log=state_log,
            done=self._done,
        )
        # Read at scrape time: a gauge updated twice per command costs a lock each time.
        metrics.in_flight.set_function(lambda: self.call_slots.in_use)
        metrics.buffered.set_function(self.lanes.total)
        metrics.state_keys.set_function(lambda: sum(len(s) for s in self.states.values()))
        metrics.oldest_pending_age.set_function(self._oldest_pending_age)
        metrics.held_commands.set_function(self._held_commands)
        self._watch_circuits(metrics, set(settings.instances.instances))
        self.registry.on_change(self._instance_changed)

    def _instance_changed(self, instance_id: str) -> None:
        # A removed instance keeps its gate: its waiting commands are rejected at their turn.
        if self.registry.is_known(instance_id):
            self.pacer.retune(instance_id)
        # A removed instance is held no longer: its waiting commands reach their turn and are
        # rejected there (a re-added one is held again if its session is still down).
        self.pacer.session_changed(
            instance_id, down=self._session_holds(instance_id), working=False
        )

    def _oldest_pending_age(self) -> float:
        oldest = min((job.received_mono for job in self.lanes.heads()), default=None)
        return 0.0 if oldest is None else max(0.0, self.clock.monotonic() - oldest)

    def _held_commands(self) -> int:
        return sum(self.lanes.buffered_for(i) for i in self.pacer.held_instances())

    def _session_holds(self, instance_id: str) -> bool:
        """Whether the instance's last session status holds its commands (docs/contract.md
        "Held instances"); an instance no longer configured is not held, so that its waiting
        commands are rejected at their turn."""
        sessions = self._sessions
        return (
            sessions is not None
            and sessions.is_down(instance_id)
            and self.registry.is_known(instance_id)
        )

    def _session_changed(self, instance_id: str, status: str | None) -> None:
        self.pacer.session_changed(
            instance_id,
            down=self._session_holds(instance_id),
            working=status == "WORKING",
        )
        # A partition paused for this instance's full buffer may go on now that it is held.
        for tp, instances in list(self._instances_of.items()):
            if instance_id in instances:
                self.on_progress(tp)

    def _watch_circuits(self, metrics: Metrics, listed: set[str]) -> None:
        """``gateway_circuit_open``, read at scrape time: one series per listed instance and
        one for all others (labels stay bounded by the instances file)."""

        def held(instance: str) -> Callable[[], float]:
            # One gate lookup per series: a scrape reads every listed instance.
            return lambda: float(self.pacer.circuit_is_open(instance))

        for instance in listed:
            metrics.circuit_open.labels(instance).set_function(held(instance))
        metrics.circuit_open.labels("other").set_function(
            lambda: float(any(i not in listed for i in self.pacer.open_circuits()))
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

    async def revoke(self, partitions: set[TopicPartition], bound_s: float) -> None:
        """No new call for ``partitions``; wait for their in-flight work at most ``bound_s``,
        cancel the rest (a POST cut off mid-call is reported outcome_unknown)."""
        self._owned -= partitions
        # Held commands wait for no bound: they make no call, and the next owner holds them.
        self.pacer.refuse(None, owners=set(partitions))
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
        self.pacer.refuse(None)  # held commands are left for the next owner at once
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

    def admit(self, tp: TopicPartition, record: Any) -> bool:
        """Take one fetched record; it is done once everything it leads to was published.

        False: not taken, its instance's buffer is full (the caller fetches it again later)."""
        envelope = envelope_of(record)
        received_at, received_mono = self.clock.now(), self.clock.monotonic()
        item = admission(
            envelope,
            is_known_instance=self.registry.admits,
            partitions_of=self._partitions_of,
        )
        held_and_full = False
        if isinstance(item, OutboundCommand) and self.lanes.instance_is_full(item.instance_id):
            if not self.pacer.gate(item.instance_id).is_held:
                return False  # its instance's buffer is at its bound: fetched again later
            held_and_full = True
        self.trackers.setdefault(tp, OffsetTracker()).add(record.offset)
        if isinstance(item, Undecodable):
            self._side(tp, envelope, lambda: self.outputs.dead_letter_undecodable(envelope, item))
            return True
        if isinstance(item, Reroute):
            self._side(tp, envelope, lambda: forward(self.outputs, self.metrics, envelope, item))
            return True
        if isinstance(item, Rejection):
            outcome = rejected(item)
            reply = ReplyInfo.of(item)
            self._side(
                tp,
                envelope,
                lambda: self._publisher.publish_outcome(envelope, reply, outcome, received_at),
            )
            return True
        self._instances_of.setdefault(tp, set()).add(item.instance_id)
        if held_and_full:
            # A held instance must not fill the partition's buffer and stall its neighbours.
            unavailable = _instance_unavailable()
            held = ReplyInfo.of(item)
            self._side(
                tp,
                envelope,
                lambda: self._publisher.publish_outcome(envelope, held, unavailable, received_at),
            )
            return True
        chat = item.params.get("chatId")
        job = Job(tp, envelope, item, received_at, received_mono)
        if self.lanes.add(tp, item.instance_id, chat if isinstance(chat, str) else None, job):
            key = self.lanes.key(tp, item.instance_id, chat if isinstance(chat, str) else None)
            self._lane_tasks[key] = asyncio.create_task(self._run_lane(key, job))
        return True

    def _side(
        self, tp: TopicPartition, envelope: Envelope, publish: Callable[[], Awaitable[None]]
    ) -> None:
        """Work outside any lane (dead letters, rejections, forwards): order does not matter."""

        async def run() -> None:
            with self._consuming(envelope, None):
                await self._publisher.until_published(publish)
            self._done(tp, envelope.offset)

        task = asyncio.create_task(run())
        self._side_tasks[task] = tp
        task.add_done_callback(self._side_tasks.pop)

    # -- lanes -------------------------------------------------------------------------------

    async def _run_lane(self, key: LaneKey, first: Job) -> None:
        job: Job | None = first
        try:
            while job is not None and not self._stopping and job.tp in self._owned:
                # Every line logged while the command runs (calls, retries, reconciliation)
                # names it; the lane task's own context, so lanes do not mix.
                structlog.contextvars.bind_contextvars(
                    command_id=job.command.id, action=job.command.action
                )
                with self._consuming(job.envelope, job.command):
                    ran = await self._execution.run(job)
                if not ran:
                    break  # refused: left for the partition's next owner
                self._done(job.tp, job.envelope.offset)
                job = self.lanes.finish(key)
        finally:
            if self._lane_tasks.get(key) is asyncio.current_task():
                del self._lane_tasks[key]

    def _consuming(self, envelope: Envelope, command: OutboundCommand | None) -> Any:
        """The command's consumer span, current while it runs (docs/contract.md "Trace
        context"): it continues the record's trace context, or starts a trace."""
        tracing = self.tracing
        attributes = _NO_ATTRIBUTES
        if tracing.recording:
            attributes = _consumer_attributes(envelope, command, self.settings.kafka.group_id)
        return tracing.continuing(
            envelope.headers,
            f"process {envelope.topic}",
            SpanKind.CONSUMER,
            attributes,
        )

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
        """Whether an instance of ``tp`` has used up its buffer (the partition must wait). A
        held one does not count: its further commands fail at once (``admit``), and waiting
        for it would stall every other instance of the partition for as long as it is held."""
        instances = self._instances_of.get(tp)
        if instances is None or not self.lanes.any_instance_full(instances):
            return False
        pacer = self.pacer
        return any(
            instance is None or not pacer.is_held(instance)
            for instance in self.lanes.full_among(instances)
        )

    def expire_state(self) -> int:
        """Forget idempotency records past their retention."""
        now = self.clock.time()
        return sum(state.expire(now) for state in self.states.values())

    def busy(self) -> int:
        return len(self._lane_tasks) + len(self._side_tasks)
