"""CompactedTopicFollower against a real broker: read to the end on start, follow, tombstones,
and read-your-writes for records written in multi-record batches (where the embedded broker's
listed end offsets fall short of the real end)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from wawp_gateway.core.follower import CompactedTopicFollower, FollowerStopped, TopicMissing
from wawp_gateway.core.kafka import build_producer, create_topics
from wawp_gateway.core.sections import KafkaSettings

DEADLINE_S = 30.0


@pytest.fixture
def kafka(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap, fetch_max_wait_ms=10)


@pytest_asyncio.fixture
async def producer(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    # A long linger: every burst of sends below leaves as one multi-record batch.
    producer = build_producer(kafka, linger_ms=20)
    await producer.start()
    yield producer
    await producer.stop()


async def _write_batch(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[str, bytes | None]]
) -> int:
    """Send ``records`` together (one batch) and wait for every acknowledgement; the last
    offset."""
    pending = [await producer.send(topic, value, key=key.encode()) for key, value in records]
    return max([(await future).offset for future in pending])


class _Table:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.applied = 0

    def apply(self, key: str, value: bytes | None) -> None:
        self.applied += 1
        if value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = value


@pytest_asyncio.fixture
async def topic(kafka: KafkaSettings, unique: Callable[[str], str]) -> str:
    name = unique("registry")
    await create_topics(kafka, [name], partitions=1, configs={name: {"cleanup.policy": "compact"}})
    return name


async def test_start_reads_every_batched_record_to_the_end(
    kafka: KafkaSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    """Records written before start (in batches of 25) are all applied when start returns."""
    for round_ in range(4):
        await _write_batch(producer, topic, [(f"k{i}", f"{round_}".encode()) for i in range(25)])
    table = _Table()
    follower = CompactedTopicFollower(kafka, topic, table.apply, client_id="test-follower")
    await asyncio.wait_for(follower.start(), DEADLINE_S)
    try:
        assert table.applied == 100
        assert table.values == {f"k{i}": b"3" for i in range(25)}
    finally:
        await follower.stop()


async def test_an_empty_topic_starts_empty(kafka: KafkaSettings, topic: str) -> None:
    table = _Table()
    follower = CompactedTopicFollower(kafka, topic, table.apply, client_id="test-follower")
    await asyncio.wait_for(follower.start(), DEADLINE_S)
    await asyncio.wait_for(follower.catch_up(), DEADLINE_S)
    await follower.stop()
    assert table.applied == 0


async def test_catch_up_sees_every_acknowledged_record(
    kafka: KafkaSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    """Read-your-writes: after a multi-record batch is acknowledged, catch_up returns only once
    its last record is applied, 20 times over (batches of 1 to 7 records, tombstones too)."""
    table = _Table()
    # A follower with long polls lags behind the writer: catch_up has to close the gap.
    lagging = kafka.model_copy(update={"fetch_max_wait_ms": 300})
    follower = CompactedTopicFollower(lagging, topic, table.apply, client_id="test-follower")
    await asyncio.wait_for(follower.start(), DEADLINE_S)
    try:
        for n in range(20):
            size = n % 7 + 1
            batch: list[tuple[str, bytes | None]] = [(f"k{n}-{i}", b"x") for i in range(size - 1)]
            batch.append((f"last{n}", str(n).encode()))
            if n % 5 == 4:
                batch.append((f"last{n - 1}", None))  # a tombstone as the batch's last record
            await _write_batch(producer, topic, batch)
            await asyncio.wait_for(follower.catch_up(), DEADLINE_S)
            # Then: the batch's last record is applied (not merely its first).
            if n % 5 == 4:
                assert f"last{n - 1}" not in table.values
            else:
                assert table.values[f"last{n}"] == str(n).encode()
    finally:
        await follower.stop()


async def test_concurrent_catch_ups_each_see_their_writes(
    kafka: KafkaSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    """Writers that each write then catch up at the same time all read their own record."""
    table = _Table()
    follower = CompactedTopicFollower(kafka, topic, table.apply, client_id="test-follower")
    await asyncio.wait_for(follower.start(), DEADLINE_S)

    async def write_then_read(n: int) -> bool:
        await _write_batch(producer, topic, [(f"w{n}-{i}", b"v") for i in range(3)])
        await follower.catch_up()
        return f"w{n}-2" in table.values

    try:
        seen = await asyncio.wait_for(
            asyncio.gather(*(write_then_read(n) for n in range(30))), DEADLINE_S
        )
        assert all(seen)
    finally:
        await follower.stop()


async def test_it_follows_records_written_after_start(
    kafka: KafkaSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    """Without any catch_up, records written later arrive by themselves."""
    arrived = asyncio.Event()
    table = _Table()

    def apply(key: str, value: bytes | None) -> None:
        table.apply(key, value)
        if key == "later":
            arrived.set()

    follower = CompactedTopicFollower(kafka, topic, apply, client_id="test-follower")
    await asyncio.wait_for(follower.start(), DEADLINE_S)
    try:
        await _write_batch(producer, topic, [("a", b"1"), ("later", b"2")])
        await asyncio.wait_for(arrived.wait(), DEADLINE_S)
        assert table.values == {"a": b"1", "later": b"2"}
    finally:
        await follower.stop()


async def test_a_missing_topic_is_a_typed_error(
    kafka: KafkaSettings, unique: Callable[[str], str]
) -> None:
    follower = CompactedTopicFollower(
        kafka, unique("absent"), _Table().apply, client_id="test-follower"
    )
    with pytest.raises(TopicMissing):
        await asyncio.wait_for(follower.start(), DEADLINE_S)


async def test_catch_up_after_stop_raises(kafka: KafkaSettings, topic: str) -> None:
    follower = CompactedTopicFollower(kafka, topic, _Table().apply, client_id="test-follower")
    await asyncio.wait_for(follower.start(), DEADLINE_S)
    await follower.stop()
    await follower.stop()  # idempotent
    with pytest.raises(FollowerStopped):
        await follower.catch_up()


async def test_a_failure_while_following_is_reported_and_ends_catch_ups(
    kafka: KafkaSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    """When following breaks (here: ``apply`` raises), the failure callbacks hear of it and
    waiting or later catch-ups raise instead of hanging."""
    failures: list[BaseException] = []
    reported = asyncio.Event()

    def apply(key: str, value: bytes | None) -> None:
        if key == "poison":
            raise ValueError("cannot apply")

    follower = CompactedTopicFollower(kafka, topic, apply, client_id="test-follower")
    follower.on_failure(lambda error: (failures.append(error), reported.set()))
    await asyncio.wait_for(follower.start(), DEADLINE_S)
    try:
        await _write_batch(producer, topic, [("poison", b"x")])
        with pytest.raises(FollowerStopped):
            await asyncio.wait_for(follower.catch_up(), DEADLINE_S)
        await asyncio.wait_for(reported.wait(), DEADLINE_S)
        with pytest.raises(FollowerStopped):
            await follower.catch_up()
    finally:
        await follower.stop()
    assert [type(f) for f in failures] == [ValueError]
