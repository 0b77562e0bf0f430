"""The consumer loop's own rules, against a fake consumer: one commit at a time, the periodic
commit in the background, and a batch dropped when a revoke began before it was admitted.

The fake broker answers a commit when the test says so, and the tests wait on events with a
deadline, never for a span of time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from fakes import FakeWawp, ManualClock, ok_reply
from wawp_gateway.core.config import Settings
from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.sections import KafkaSettings, WawpSettings
from wawp_gateway.worker.loop import Worker
from wawp_gateway.worker.offsets import OffsetTracker
from wawp_gateway.worker.rebalance import RebalanceListener
from wawp_gateway.worker.state.handover import Handover, TakeOver
from wawp_gateway.worker.state.idempotency import PartitionState
from wawp_gateway.worker.state.statelog import StateLog

TP = TopicPartition("wawp.send", 0)


class FakeConsumer:
    """Records commits and counts how many overlap; while ``hold_commits`` is clear a commit
    stays in flight, so a test decides when the broker answers."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.overlapping = 0
        self.most_overlapping = 0
        self.fetches_during_commit = 0
        self.batches: asyncio.Queue[dict[TopicPartition, list[Any]]] = asyncio.Queue()
        self.on_batch: Callable[[], None] = lambda: None
        self.hold_commits = asyncio.Event()
        self.hold_commits.set()
        self.commit_started = asyncio.Event()
        self.fetched_during_commit = asyncio.Event()

    def subscribe(self, topics: list[str], listener: Any) -> None:
        pass

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    def pause(self, *tps: TopicPartition) -> None:
        pass

    def resume(self, *tps: TopicPartition) -> None:
        pass

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        if self.overlapping:
            self.fetches_during_commit += 1
            self.fetched_during_commit.set()
        try:
            batch = await asyncio.wait_for(self.batches.get(), timeout_ms / 1000)
        except TimeoutError:
            return {}
        self.on_batch()
        return batch

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.overlapping += 1
        self.most_overlapping = max(self.most_overlapping, self.overlapping)
        self.commit_started.set()
        try:
            await self.hold_commits.wait()
        finally:
            self.overlapping -= 1
        self.commits.append(dict(offsets))


DEADLINE_S = 10.0


async def _within_deadline(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), DEADLINE_S)


def _worker(
    consumer: FakeConsumer, commit_interval_ms: int = 10, state_log: StateLog | None = None
) -> Worker:
    settings = Settings(
        kafka=KafkaSettings(commit_interval_ms=commit_interval_ms),
        wawp=WawpSettings(access_token="t"),  # type: ignore[arg-type]
        allow_unlisted_instances=True,
    )
    return Worker(
        settings,
        consumer=consumer,  # type: ignore[arg-type]
        producer=object(),  # type: ignore[arg-type]
        wawp=FakeWawp([ok_reply()]),
        metrics=Metrics(CollectorRegistry()),
        clock=ManualClock(),
        state_log=state_log,
    )


def _done_up_to(worker: Worker, offset: int) -> None:
    tracker = worker.engine.trackers.setdefault(TP, OffsetTracker())
    start = tracker.committable() or 0
    for o in range(start, offset):
        tracker.add(o)
        tracker.done(o)


async def test_periodic_commit_runs_in_the_background_one_at_a_time() -> None:
    """The loop keeps fetching while a periodic commit is in flight, and a revoke's commit waits
    for it, then commits the rest."""
    consumer = FakeConsumer()
    consumer.hold_commits.clear()
    worker = _worker(consumer, commit_interval_ms=1)
    worker.on_assigned({TP})
    stopping = asyncio.Event()
    run = asyncio.create_task(worker.run(stopping))
    # Given a periodic commit of offset 3 that the broker has not answered yet
    _done_up_to(worker, 3)
    await _within_deadline(consumer.commit_started)
    # Then the loop keeps fetching meanwhile
    await _within_deadline(consumer.fetched_during_commit)
    # When a revoke commits more, it waits for the one in flight
    _done_up_to(worker, 20)
    revoke_commit = asyncio.create_task(worker.commit({TP}))
    consumer.hold_commits.set()
    await asyncio.wait_for(revoke_commit, DEADLINE_S)
    stopping.set()
    await asyncio.wait_for(run, DEADLINE_S)
    assert consumer.commits[:2] == [{TP: 3}, {TP: 20}]
    assert consumer.most_overlapping == 1


async def test_shutdown_commit_waits_for_the_periodic_one() -> None:
    consumer = FakeConsumer()
    consumer.hold_commits.clear()
    worker = _worker(consumer, commit_interval_ms=1)
    worker.on_assigned({TP})
    stopping = asyncio.Event()
    run = asyncio.create_task(worker.run(stopping))
    _done_up_to(worker, 3)
    await _within_deadline(consumer.commit_started)  # the periodic commit of 3 is in flight
    _done_up_to(worker, 9)
    stopping.set()
    # The shutdown cannot finish while the periodic commit is unanswered...
    done, _ = await asyncio.wait({run}, timeout=0.2)
    assert not done
    # ...and once it is answered, commits the rest after it, never beside it.
    consumer.hold_commits.set()
    await asyncio.wait_for(run, DEADLINE_S)
    assert consumer.most_overlapping == 1
    assert consumer.commits[0] == {TP: 3}
    assert consumer.commits[-1] == {TP: 9}


class _Record:
    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset = TP.topic, TP.partition, offset
        self.key, self.value, self.headers = b"k", b"{}", ()


async def test_batch_is_dropped_when_a_revoke_began_before_it_was_admitted() -> None:
    consumer = FakeConsumer()
    worker = _worker(consumer, commit_interval_ms=60_000)
    worker.on_assigned({TP})
    admitted: list[int] = []
    first_admitted = asyncio.Event()

    def admit(tp: TopicPartition, record: Any) -> bool:
        admitted.append(record.offset)
        first_admitted.set()
        return True

    worker.engine.admit = admit  # type: ignore[method-assign]
    stopping = asyncio.Event()
    run = asyncio.create_task(worker.run(stopping))
    await consumer.batches.put({TP: [_Record(0)]})
    await _within_deadline(first_admitted)
    assert admitted == [0]
    # The revoke starts right after getmany returned, while the loop gives the fetcher its turns.
    revokes: list[asyncio.Task[None]] = []
    revoking = asyncio.Event()

    def revoke_now() -> None:
        revokes.append(asyncio.create_task(worker.on_revoked({TP})))
        revoking.set()

    consumer.on_batch = revoke_now
    await consumer.batches.put({TP: [_Record(1)]})
    await _within_deadline(revoking)
    await asyncio.wait_for(revokes[0], DEADLINE_S)
    stopping.set()
    await asyncio.wait_for(run, DEADLINE_S)
    assert admitted == [0]


class _SeekingConsumer(FakeConsumer):
    def __init__(self) -> None:
        super().__init__()
        self.held: set[TopicPartition] = set()
        self.sought: list[tuple[TopicPartition, int]] = []
        self.seeking = asyncio.Event()

    def pause(self, *tps: TopicPartition) -> None:
        self.held.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.held.difference_update(tps)

    def paused(self) -> set[TopicPartition]:
        return set(self.held)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought.append((tp, offset))
        self.seeking.set()


def _restoring_worker(consumer: FakeConsumer) -> Worker:
    state_log = StateLog([object()], "wawp.state")  # type: ignore[arg-type]
    return _worker(consumer, commit_interval_ms=60_000, state_log=state_log)


async def test_a_partition_is_paused_and_admits_nothing_until_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records of a partition still restoring are sought back, not admitted; then it resumes."""
    restored = asyncio.Event()

    async def take(self: Handover, partitions: set[int], *, assigned_at: float) -> TakeOver:
        await restored.wait()
        return TakeOver({p: PartitionState(60) for p in partitions}, 0, 0.0, 0.0)

    monkeypatch.setattr(Handover, "take", take)
    consumer = _SeekingConsumer()
    worker = _restoring_worker(consumer)
    admitted: list[int] = []
    admitting = asyncio.Event()

    def admit(tp: TopicPartition, record: Any) -> bool:
        admitted.append(record.offset)
        admitting.set()
        return True

    worker.engine.admit = admit  # type: ignore[method-assign]
    worker.on_assigned({TP})
    assert consumer.paused() == {TP}
    assert _paused_gauge(worker) == 1
    assert not worker.assigned.is_set()
    stopping = asyncio.Event()
    run = asyncio.create_task(worker.run(stopping))
    await consumer.batches.put({TP: [_Record(5), _Record(6)]})  # fetched before the pause
    await asyncio.wait_for(consumer.seeking.wait(), 5)
    assert consumer.sought == [(TP, 5)]
    assert admitted == []
    restored.set()
    await asyncio.wait_for(worker.assigned.wait(), 1)
    assert consumer.paused() == set()
    assert _paused_gauge(worker) == 0
    await consumer.batches.put({TP: [_Record(5)]})
    await asyncio.wait_for(admitting.wait(), 5)
    assert admitted == [5]
    stopping.set()
    monkeypatch.setattr(Worker, "_release", _no_release)
    await run


def _paused_gauge(worker: Worker) -> float | None:
    return worker.engine.metrics.registry.get_sample_value("gateway_paused_partitions")


async def _no_release(self: Worker, partitions: set[TopicPartition]) -> None:
    return None


async def test_a_failed_restore_stops_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past IDEMPOTENCY__RESTORE_TIMEOUT_S the worker stops: it must not run commands without
    their records."""

    async def take(self: Handover, partitions: set[int], *, assigned_at: float) -> TakeOver:
        raise TimeoutError

    monkeypatch.setattr(Handover, "take", take)
    consumer = _SeekingConsumer()
    worker = _restoring_worker(consumer)
    worker.on_assigned({TP})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(worker.run(asyncio.Event()), 5)
    assert consumer.paused() == {TP}


async def test_the_followed_topics_are_read_to_their_end_before_a_partition_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A takeover first catches the session statuses up, then restores: a status written just
    before the assignment holds the partition's first call."""
    steps: list[str] = []
    caught_up = asyncio.Event()

    async def catch_up() -> None:
        steps.append("catch_up")
        await caught_up.wait()
        steps.append("caught_up")

    async def take(self: Handover, partitions: set[int], *, assigned_at: float) -> TakeOver:
        steps.append("take")
        return TakeOver({p: PartitionState(60) for p in partitions}, 0, 0.0, 0.0)

    monkeypatch.setattr(Handover, "take", take)
    consumer = _SeekingConsumer()
    state_log = StateLog([object()], "wawp.state")  # type: ignore[arg-type]
    worker = Worker(
        Settings(wawp=WawpSettings(access_token="t"), allow_unlisted_instances=True),  # type: ignore[arg-type]
        consumer=consumer,  # type: ignore[arg-type]
        producer=object(),  # type: ignore[arg-type]
        wawp=FakeWawp([ok_reply()]),
        metrics=Metrics(CollectorRegistry()),
        clock=ManualClock(),
        state_log=state_log,
        catch_up=[catch_up],
    )
    worker.on_assigned({TP})
    for _ in range(5):
        await asyncio.sleep(0)  # sleep-ok: lets the takeover task run, waits for nothing
    assert steps == ["catch_up"]
    assert not worker.assigned.is_set()
    caught_up.set()
    await asyncio.wait_for(worker.assigned.wait(), DEADLINE_S)
    assert steps == ["catch_up", "caught_up", "take"]


class _HighwaterConsumer(FakeConsumer):
    def highwater(self, tp: TopicPartition) -> int | None:
        return 20


def _lag(worker: Worker) -> float | None:
    registry = worker.engine.metrics.registry
    return registry.get_sample_value("gateway_consumer_lag_records", {"topic": TP.topic})


def test_lag_counts_from_the_first_unfinished_record() -> None:
    """Records 10..19 fetched, none finished: the lag is 10, not 0 (a partition whose first
    command hangs is behind); once 10..14 are done it is 5."""
    worker = _worker(_HighwaterConsumer())
    worker.engine.assign({TP})
    tracker = worker.engine.trackers.setdefault(TP, OffsetTracker())
    for offset in range(10, 20):
        tracker.add(offset)
    worker._observe_lag()
    assert _lag(worker) == 10
    for offset in range(10, 15):
        tracker.done(offset)
    worker._observe_lag()
    assert _lag(worker) == 5


def test_keys_evicted_while_running_are_counted_once() -> None:
    """Evictions at the key bound during normal running reach the metric, not only a restore's."""
    worker = _worker(FakeConsumer())
    state = PartitionState(3600, max_keys=2)
    worker.engine.states[0] = state

    def evicted_total() -> float | None:
        return worker.engine.metrics.registry.get_sample_value("gateway_state_evicted_keys_total")

    state.evicted = 3
    worker._count_evictions()
    worker._count_evictions()
    assert evicted_total() == 3
    state.evicted = 5
    worker._count_evictions()
    assert evicted_total() == 5


async def test_a_reported_failure_stops_the_worker() -> None:
    """``fail`` (a followed topic broke): ``run`` raises the error after its current fetch, the
    first error reported being the one raised."""
    worker = _restoring_worker(_SeekingConsumer())
    worker.fail(ConnectionError("registry follower"))
    worker.fail(RuntimeError("later"))
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(worker.run(asyncio.Event()), 5)


async def test_a_revoke_logs_when_it_completed_and_how_long_it_took() -> None:
    """The group assigns nothing until every member's revoke is done: its time is logged."""
    consumer = FakeConsumer()
    worker = _worker(consumer, commit_interval_ms=60_000)
    worker.on_assigned({TP})
    with capture_logs() as logs:
        await asyncio.wait_for(RebalanceListener(worker).on_partitions_revoked({TP}), DEADLINE_S)
    events = [entry["event"] for entry in logs]
    assert events[0] == "partitions.revoked"
    done = next(entry for entry in logs if entry["event"] == "revocation.completed")
    assert done["count"] == 1
    assert 0 <= done["seconds"] < DEADLINE_S
