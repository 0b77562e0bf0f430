"""CoalescingWriter over a fake producer: batches per partition, order, errors, late waiters."""

from __future__ import annotations

import asyncio
import inspect
from typing import cast

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.producer.message_accumulator import BatchBuilder, MessageAccumulator, MessageBatch

from fakes import FakeProducer
from wawp_gateway.core.coalesce import CoalescingWriter


def _writer(producer: FakeProducer) -> CoalescingWriter:
    return CoalescingWriter([cast(AIOKafkaProducer, producer)], "t")


async def _first_batch_queued() -> tuple[FakeProducer, CoalescingWriter, asyncio.Future[None]]:
    """A writer whose first record (b"a", partition 0) is in a batch handed to the producer."""
    producer = FakeProducer()
    writer = _writer(producer)
    first = writer.submit(0, None, b"a")
    await producer.next_send(1)
    return producer, writer, first


async def test_writes_of_one_turn_go_out_as_one_batch_per_partition() -> None:
    producer = FakeProducer()
    writer = _writer(producer)
    futures = [writer.submit(i % 2, b"k%d" % i, b"v%d" % i, [("h", b"x")]) for i in range(6)]
    await producer.next_send(2)
    by_partition = {partition: batch for _, partition, batch, _ in producer.sent}
    assert [r[1] for r in by_partition[0].records] == [b"v0", b"v2", b"v4"]
    assert [r[1] for r in by_partition[1].records] == [b"v1", b"v3", b"v5"]
    assert by_partition[0].records[0][2] == [("h", b"x")]
    for *_, ack in producer.sent:
        ack.set_result(None)
    await asyncio.gather(*futures)


async def test_partitions_spread_over_producers_and_each_waits_only_for_its_own() -> None:
    """Partition p always goes through producers[p % n]; a batch queued on one producer does
    not hold back another producer's partition."""
    producers = [FakeProducer(), FakeProducer(), FakeProducer()]
    writer = CoalescingWriter([cast(AIOKafkaProducer, p) for p in producers], "t")
    futures = [writer.submit(partition, None, b"%d" % partition) for partition in range(6)]
    for producer in producers:
        await producer.next_send(2)
    assert [[partition for _, partition, *_ in p.sent] for p in producers] == [
        [0, 3],
        [1, 4],
        [2, 5],
    ]
    # Given partition 0's batch still queued on its producer
    later = writer.submit(0, None, b"again")
    other = writer.submit(1, None, b"again")
    # Then partition 1 (another producer) hands its next batch over without waiting
    producers[1].drain()
    await producers[1].next_send(3)
    assert len(producers[0].sent) == 2  # partition 0's next batch waits for its own queue
    producers[0].drain()
    await producers[0].next_send(3)
    for producer in producers:
        for *_, ack in producer.sent:
            ack.set_result(None)
    await asyncio.gather(*futures, later, other)


def test_a_writer_needs_a_producer() -> None:
    with pytest.raises(ValueError, match="at least one producer"):
        CoalescingWriter([], "t")


async def test_the_next_batch_is_built_once_the_previous_left_not_once_it_was_answered() -> None:
    producer = FakeProducer()
    writer = _writer(producer)
    first = writer.submit(0, b"k", b"1")
    await producer.next_send(1)
    later = [writer.submit(0, b"k", b"%d" % i) for i in (2, 3)]
    await asyncio.sleep(0)  # a loop turn: the previous batch is still queued, nothing is built
    assert len(producer.sent) == 1
    producer.drain()  # it left in a request; its answer has not come
    await producer.next_send(2)
    assert [r[1] for r in producer.sent[1][2].records] == [b"2", b"3"]
    assert not first.done()
    producer.sent[0][3].set_result(None)
    await first
    producer.sent[1][3].set_result(None)
    await asyncio.gather(*later)


async def test_records_written_while_the_previous_batch_waits_all_join_the_next() -> None:
    producer = FakeProducer()
    writer = _writer(producer)
    writer.submit(0, None, b"a")
    await producer.next_send(1)
    for turn in range(3):  # several loop turns while the first batch is still queued
        writer.submit(0, None, b"%d" % turn)
        await asyncio.sleep(0)
    producer.drain()
    await producer.next_send(2)
    assert [r[1] for r in producer.sent[1][2].records] == [b"0", b"1", b"2"]


def test_the_aiokafka_internals_the_writer_reads_are_there() -> None:
    """The writer waits on aiokafka's queued batch of a partition; an upgrade that moves it
    would silently cost a round trip per write."""
    assert "_message_accumulator" in inspect.getsource(AIOKafkaProducer.__init__)
    assert "self._batches" in inspect.getsource(MessageAccumulator.__init__)
    assert inspect.iscoroutinefunction(MessageBatch.wait_drain)
    assert callable(BatchBuilder.close)


async def test_a_full_batch_is_split_and_every_writer_waits_for_its_own_part() -> None:
    producer = FakeProducer(batch_limit=2)
    writer = _writer(producer)
    futures = [writer.submit(0, None, b"%d" % i) for i in range(5)]
    await producer.next_send(3)
    assert [len(batch.records) for _, _, batch, _ in producer.sent] == [2, 2, 1]
    for *_, ack in producer.sent:
        ack.set_result(None)
    await asyncio.gather(*futures)


async def test_a_failed_batch_fails_each_of_its_writers_and_the_next_batch_still_goes() -> None:
    producer = FakeProducer()
    writer = _writer(producer)
    failing = [writer.submit(0, None, b"a"), writer.submit(0, None, b"b")]
    await producer.next_send(1)
    after = writer.submit(0, None, b"c")
    producer.drain()
    producer.sent[0][3].set_exception(ConnectionError("broker gone"))
    for future in failing:
        with pytest.raises(ConnectionError):
            await future
    await producer.next_send(2)
    producer.sent[1][3].set_result(None)
    await after


async def test_a_split_batch_s_writers_wait_for_every_part_and_share_its_failure() -> None:
    """The writers of a batch split in two are told once both parts are answered; a part that
    fails fails them all, whatever the other part's answer."""
    producer = FakeProducer(batch_limit=2)
    writer = _writer(producer)
    futures = [writer.submit(0, None, b"%d" % i) for i in range(3)]
    await producer.next_send(2)
    producer.sent[0][3].set_result(None)
    await asyncio.sleep(0)
    assert not any(f.done() for f in futures)  # the second part is not answered yet
    producer.sent[1][3].set_exception(ConnectionError("broker gone"))
    for future in futures:
        with pytest.raises(ConnectionError):
            await future
    assert not writer._sending  # no task lingers once its batch was handed over


async def test_a_waiter_that_gave_up_does_not_break_the_batch() -> None:
    """The receiver fails a late future itself (its deadline); the ack arriving later is dropped."""
    producer = FakeProducer()
    writer = _writer(producer)
    given_up = writer.submit(0, None, b"a")
    kept = writer.submit(0, None, b"b")
    await producer.next_send(1)
    given_up.set_exception(TimeoutError())
    producer.sent[0][3].set_result(None)
    await kept
    with pytest.raises(TimeoutError):
        await given_up


async def test_a_record_given_up_before_its_batch_left_is_not_sent() -> None:
    """Queued behind a batch in flight and given up (the receiver answered 503): never sent,
    so the retry Wawp makes is the only copy; the others of its batch still go."""
    producer, writer, first = await _first_batch_queued()
    given_up = writer.submit(0, None, b"late")
    kept = writer.submit(0, None, b"b")
    given_up.set_exception(TimeoutError())
    producer.drain()
    producer.sent[0][3].set_result(None)
    await first
    await producer.next_send(2)
    assert [r[1] for r in producer.sent[1][2].records] == [b"b"]
    producer.sent[1][3].set_result(None)
    await kept
    with pytest.raises(TimeoutError):
        await given_up


async def test_nothing_is_sent_when_every_record_was_given_up() -> None:
    producer, writer, first = await _first_batch_queued()
    given_up = writer.submit(0, None, b"late")
    given_up.cancel()
    producer.drain()
    producer.sent[0][3].set_result(None)
    await first
    follow = writer.submit(0, None, b"next")
    await producer.next_send(2)
    assert [[r[1] for r in batch.records] for _, _, batch, _ in producer.sent] == [
        [b"a"],
        [b"next"],
    ]
    producer.sent[1][3].set_result(None)
    await follow


async def test_a_batch_whose_sender_failed_before_taking_it_does_not_hold_the_next() -> None:
    producer, writer, first = await _first_batch_queued()
    after = writer.submit(0, None, b"b")
    queued = producer._message_accumulator._batches[TopicPartition("t", 0)].popleft()
    queued.drained.set_exception(ConnectionError("sender stopped"))
    producer.sent[0][3].set_exception(ConnectionError("sender stopped"))
    with pytest.raises(ConnectionError):
        await first
    await producer.next_send(2)
    producer.sent[1][3].set_result(None)
    await after
