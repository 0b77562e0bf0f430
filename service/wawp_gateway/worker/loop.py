"""The consumer loop: fetch, hand records to the engine, pause full partitions, commit.

One consumer per process for both input topics. Offsets are committed only up to the highest
contiguous record whose outputs were acknowledged, periodically, on revoke and on shutdown. A
partition is admitted record by record up to its buffer bounds, then paused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, KafkaError

from wawp_gateway.core.config import Settings
from wawp_gateway.core.membership import GroupStanding
from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.registry import InstanceRegistry
from wawp_gateway.core.tracing import Tracing
from wawp_gateway.worker.engine import Engine
from wawp_gateway.worker.outputs import Outputs
from wawp_gateway.worker.pipeline import Clock, WawpPort
from wawp_gateway.worker.rebalance import RebalanceListener
from wawp_gateway.worker.sessions import SessionBook
from wawp_gateway.worker.state.handover import Handover, TakeOver
from wawp_gateway.worker.state.statelog import StateLog
from wawp_gateway.worker.state.store import KV

__all__ = ["Worker"]

log = structlog.get_logger(__name__)
_FETCH_TIMEOUT_MS = 200
# Event-loop turns aiokafka's fetcher needs, once getmany drained its buffer, to send the next
# fetch (wake-up callback, fetcher task, fetch-request task). See Worker._let_fetcher_refetch.
_FETCHER_TURNS = 3
_EXPIRE_EVERY_S = 60.0


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
        state_log: StateLog | None = None,
        standing: GroupStanding | None = None,
        tracing: Tracing | None = None,
        store: KV | None = None,
        sessions: SessionBook | None = None,
        catch_up: Sequence[Callable[[], Awaitable[None]]] = (),
        registry: InstanceRegistry | None = None,
    ) -> None:
        """Without ``state_log`` the worker keeps no idempotency records (unit tests of the
        loop); ``build_worker`` always gives one. Without ``tracing`` no span is recorded (the
        trace context is propagated all the same). ``catch_up``: what must be read to its end
        before the first call of a partition taken over (the followed topics)."""
        self._settings = settings
        self._topics = settings.topics
        self._consumer = consumer
        self._metrics = metrics
        metrics.paused_partitions.set_function(lambda: len(consumer.paused()))
        self.engine = Engine(
            settings,
            outputs=Outputs(settings, producer, metrics, tracing),
            wawp=wawp,
            metrics=metrics,
            clock=clock,
            partitions_of=self._partition_count,
            state_log=state_log,
            tracing=tracing,
            sessions=sessions,
            registry=registry,
        )
        self._catch_up = tuple(catch_up)
        self.engine.on_progress = self._on_progress
        self.engine.standing = standing
        self._standing = standing
        self._handover = Handover(settings, state_log, store) if state_log is not None else None
        self._state_log = state_log
        # Partitions whose state is restored and fenced: only their records are admitted.
        self._ready: set[TopicPartition] = set()
        self._taking: dict[asyncio.Task[TakeOver], set[TopicPartition]] = {}
        self._failure: BaseException | None = None
        self._last_expiry = time.monotonic()
        self._evicted_seen: dict[int, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._last_commit = time.monotonic()
        self._revocations = 0
        self._commit_lock = asyncio.Lock()
        self._commit_task: asyncio.Task[None] | None = None
        self.assigned = asyncio.Event()

    def _partition_count(self, topic: str) -> int | None:
        partitions = self._consumer.partitions_for_topic(topic)
        return len(partitions) if partitions else None

    # -- lifecycle -------------------------------------------------------------------------

    def fail(self, error: BaseException) -> None:
        """Something the worker relies on broke (a followed topic): ``run`` raises ``error``
        after its current fetch, and the process exits to be restarted."""
        if self._failure is None:
            self._failure = error

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until ``stopping`` is set, then drain within the grace period and commit."""
        self._consumer.subscribe(
            [self._topics.send, self._topics.command], listener=RebalanceListener(self)
        )
        log.info("worker.started", topics=[self._topics.send, self._topics.command])
        while not stopping.is_set():
            if self._consumer.assignment():
                # A short fetch timeout bounds how long a stop waits; no extra task per fetch.
                batch = await self._consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS)
            else:
                # Joining: aiokafka's getmany waits for the assignment whatever its timeout,
                # and a join can take the group's whole rebalance; a stop must not.
                fetched = await _unless_stopped(
                    self._consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS), stopping
                )
                if fetched is None:
                    break
                batch = fetched
            if self._failure is not None:
                raise self._failure
            if batch and await self._let_fetcher_refetch():
                for tp, records in batch.items():
                    if tp not in self._ready:
                        # Fetched before its pause took effect: read again once restored.
                        self._consumer.seek(tp, records[0].offset)
                        continue
                    self._admit(tp, records)
            self._observe_lag()
            self._maybe_commit()
            self._maybe_expire()
        log.info("worker.stopping", in_flight=self.engine.busy())
        await self.engine.stop(self._settings.shutdown.grace_s)
        await self._release(self._ready)
        await self.commit()  # after the periodic one still running, if any (the lock)
        log.info("worker.stopped")

    async def _let_fetcher_refetch(self) -> bool:
        """Give aiokafka's fetcher the turns it needs to send the next fetch before this batch
        is admitted; False when a revoke began meanwhile (drop the batch: after the rebalance
        its records are fetched again from the committed offsets).

        The fetcher sends a partition's next fetch only after getmany drained it, and it takes a
        few loop turns to do so; admitting first puts every new lane's first step ahead of
        those turns, so the next fetch left ~10 ms later (measured), and every record waited
        that much longer for it."""
        revocations = self._revocations
        for _ in range(_FETCHER_TURNS):
            await asyncio.sleep(0)
        return self._revocations == revocations

    # -- backpressure ----------------------------------------------------------------------

    def _admit(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Admit records while the partition's buffers have room; at a bound, pause it and seek
        back to the first record left, which is fetched again once it resumes.

        A fetch may return far more records than a buffer holds (aiokafka's max_records bounds
        a getmany, not a partition): admitted whole, a partition held thousands against a
        bound of 1,000. Checked before each record, no buffer ever exceeds its bound."""
        lanes = self.engine.lanes
        for record in records:
            if lanes.is_full(tp) or not self.engine.admit(tp, record):
                self._consumer.seek(tp, record.offset)
                self._pause(tp)
                return
        if self._must_hold(tp):
            self._pause(tp)

    def _pause(self, tp: TopicPartition) -> None:
        if tp not in self._paused:
            self._consumer.pause(tp)
            self._paused.add(tp)
            log.info("partition.paused", topic=tp.topic, partition=tp.partition)

    def _must_hold(self, tp: TopicPartition) -> bool:
        lanes = self.engine.lanes
        return lanes.is_full(tp) or self.engine.has_full_instance(tp)

    def _on_progress(self, tp: TopicPartition) -> None:
        if tp in self._paused and self.engine.lanes.may_resume(tp):
            if self.engine.has_full_instance(tp):
                return
            self._paused.discard(tp)
            if tp in self._consumer.assignment() and tp in self._ready:
                self._consumer.resume(tp)
                log.info("partition.resumed", topic=tp.topic, partition=tp.partition)

    # -- offsets ---------------------------------------------------------------------------

    async def commit(self, partitions: set[TopicPartition] | None = None) -> None:
        """Commit what is done (of ``partitions``, or all); one commit at a time, so a revoke's or
        the shutdown's commit waits for a periodic one in flight and then commits the rest."""
        async with self._commit_lock:
            await self._commit(partitions)

    async def _commit(self, partitions: set[TopicPartition] | None) -> None:
        owned = self._consumer.assignment()
        offsets = {
            tp: offset
            for tp, offset in self.engine.committable().items()
            if tp in owned
            and (partitions is None or tp in partitions)
            and self._committed.get(tp) != offset
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The records will be delivered again to the partition's next owner.
            log.warning("offsets.commit_failed", error=type(exc).__name__)
            return
        self._committed.update(offsets)
        self._last_commit = time.monotonic()

    def _maybe_commit(self) -> None:
        """Start the periodic commit in the background: awaited inline, its broker round trip
        (~15 ms measured under load) held back the next getmany, and so every record fetched
        meanwhile."""
        task = self._commit_task
        if task is not None:
            if not task.done():
                return
            self._commit_task = None
            task.result()  # an unexpected error stops the worker, as when it was awaited inline
        interval = self._settings.kafka.commit_interval_ms / 1000
        if time.monotonic() - self._last_commit >= interval:
            self._last_commit = time.monotonic()
            self._commit_task = asyncio.create_task(self.commit())

    def _maybe_expire(self) -> None:
        if time.monotonic() - self._last_expiry >= _EXPIRE_EVERY_S:
            self._last_expiry = time.monotonic()
            if dropped := self.engine.expire_state():
                log.info("state.expired", keys=dropped)
            self._count_evictions()

    def _count_evictions(self) -> None:
        """``gateway_state_evicted_keys_total``: keys forgotten at the key bound, at a restore
        or since (each partition's count is its own owner's)."""
        seen = self._evicted_seen
        for number, state in self.engine.states.items():
            if (new := state.evicted - seen.get(number, 0)) > 0:
                self._metrics.state_evicted_keys.inc(new)
                seen[number] = state.evicted

    def _observe_lag(self) -> None:
        """Records behind the fetch high-watermark, per input topic (``end_offsets`` is wrong on
        the embedded broker; the high-watermark of the last fetch is right everywhere)."""
        lag = {self._topics.send: 0, self._topics.command: 0}
        positions = self.engine.committable()
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None or tp.topic not in lag:
                continue
            position = positions.get(tp)
            if position is None:
                # Nothing finished yet: the lag runs from the first fetched record, not from the
                # high-watermark (a partition whose first command hangs is not caught up).
                tracker = self.engine.trackers.get(tp)
                position = tracker.first_unfinished() if tracker is not None else None
            lag[tp.topic] += max(0, highwater - (highwater if position is None else position))
        for topic, value in lag.items():
            self._metrics.consumer_lag.labels(topic).set(value)

    # -- rebalance -------------------------------------------------------------------------

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._revocations += 1
        for task, tps in list(self._taking.items()):
            if tps & revoked:
                task.cancel()
        kafka = self._settings.kafka
        bound_s = (
            min(kafka.session_timeout_ms, kafka.rebalance_timeout_ms) - kafka.heartbeat_interval_ms
        ) / 1000
        await self.engine.revoke(revoked, bound_s)
        await self._release(revoked & self._ready)
        await self.commit(revoked)
        self.engine.forget(revoked)
        self._ready -= revoked
        kept = {tp.partition for tp in self._consumer.assignment() - revoked}
        for tp in revoked:
            self._committed.pop(tp, None)
            self._paused.discard(tp)
            if tp.partition not in kept:
                self.engine.states.pop(tp.partition, None)
                self._evicted_seen.pop(tp.partition, None)

    async def _release(self, partitions: set[TopicPartition]) -> None:
        """``released``: this worker starts no more calls for these partitions, so their next
        owner need not wait for it."""
        if self._state_log is None or not partitions:
            return
        numbers = sorted({tp.partition for tp in partitions})
        try:
            offsets = await asyncio.gather(*(self._state_log.release(p) for p in numbers))
        except KafkaError as exc:
            # The next owner then waits one session timeout: slower, still safe.
            log.warning("state.release_failed", error=type(exc).__name__)
            return
        for number, offset in zip(numbers, offsets, strict=True):
            # Every record of the partition below it was written here and applied: a later
            # restore from this store reads on from there.
            state = self.engine.states.get(number)
            if state is not None:
                state.released(self._state_log.owner)
                state.checkpoint(offset + 1)

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.engine.assign(assigned)
        if self._standing is not None:
            self._standing.heard()
        if self._handover is None:
            self._ready |= assigned
            self.assigned.set()
            return
        new = assigned - self._ready
        if not new:
            self.assigned.set()
            return
        # Paused at once: aiokafka may return records of a new partition while this runs.
        self._consumer.pause(*new)
        numbers = {tp.partition for tp in new} - set(self.engine.states)
        task = asyncio.create_task(self._take_over(self._handover, numbers, time.monotonic()))
        self._taking[task] = new
        task.add_done_callback(self._taken)

    async def _take_over(self, handover: Handover, numbers: set[int], at: float) -> TakeOver:
        """The followed topics read to their end (a session status written just before the
        assignment holds the partition's commands from its first call), then the hand-over."""
        if self._catch_up:
            await asyncio.gather(*(catch_up() for catch_up in self._catch_up))
        return await handover.take(numbers, assigned_at=at)

    def _taken(self, task: asyncio.Task[TakeOver]) -> None:
        tps = self._taking.pop(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("handover.failed", error=type(error).__name__, message=str(error))
            self._failure = error
            return
        taken = task.result()
        self.engine.states.update(taken.states)
        self._metrics.state_restore.observe(taken.seconds)
        self._metrics.state_restored_records.inc(taken.records)
        for number in taken.states:
            self._evicted_seen[number] = 0
        self._count_evictions()
        owned = self._consumer.assignment()
        tps &= owned
        self._ready |= tps
        resume = [tp for tp in tps if tp not in self._paused]
        if resume:
            self._consumer.resume(*resume)
        self.assigned.set()


async def _unless_stopped(
    fetch: Coroutine[Any, Any, dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]],
    stopping: asyncio.Event,
) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] | None:
    """The fetch's records, or None when ``stopping`` was set first (the fetch is cancelled)."""
    task = asyncio.ensure_future(fetch)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None
