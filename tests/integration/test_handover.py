"""Hand-over of partitions between workers: restore, the fence, and no double send.

The embedded broker hands a partition to its new owner without waiting for the old owner's
revoke, so these tests catch a new owner racing calls its predecessor still has in flight."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from structlog.testing import capture_logs

from wawp_gateway.core.config import Settings
from wawp_gateway.core.contracts import StateStatus
from wawp_gateway.core.kafka import build_producer, build_reader, create_topics
from wawp_gateway.core.partitioning import partition_for
from wawp_gateway.sandbox import FaultRule, Sandbox
from wawp_gateway.wawp.chatid import normalize_chat_id
from wawp_gateway.worker.app import build_worker
from wawp_gateway.worker.state.entries import StateEvent
from wawp_gateway.worker.state.idempotency import fingerprint
from wawp_gateway.worker.state.statelog import StateLog, encode_event, record_key

from .conftest import POOL
from .harness import (
    DEADLINE_S,
    LIMITED,
    LIMITED_BURST,
    LIMITED_RATE_PER_MINUTE,
    PARTITIONS,
    TEST_TOKEN,
    OutputCollector,
    command,
    gateway_settings,
    running_gateway,
)
from .test_engine import arrivals, assert_within_rate

LATENCY_MS = 1_200


def _one_instance_per_partition(sandbox: Sandbox, candidates: tuple[str, ...]) -> list[str]:
    """Instances of their own (other tests take theirs from the front of the pools)."""
    chosen: dict[int, str] = {}
    for instance in candidates:
        chosen.setdefault(partition_for(instance, PARTITIONS), instance)
    for instance in chosen.values():
        sandbox.add_instance(instance, TEST_TOKEN)
    return list(chosen.values())


def _sent_ids(sandbox: Sandbox, instances: list[str]) -> Counter[str]:
    sent: Counter[str] = Counter()
    for instance in instances:
        for request in sandbox.requests(instance_id=instance, action="sendText"):
            text = (request.body or {}).get("message") or dict(request.query).get("message")
            sent[str(text)] += 1
    return sent


def _patient(settings: Settings) -> Settings:
    """A Wawp timeout well above the sandbox latency of these tests."""
    return settings.model_copy(update={"wawp": settings.wawp.model_copy(update={"timeout_s": 5.0})})


async def _publish(settings: Settings, cmds: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for cmd in cmds:
            await producer.send_and_wait(
                settings.topics.send, json.dumps(cmd).encode(), key=cmd["instance_id"].encode()
            )
    finally:
        await producer.stop()


async def test_a_worker_losing_its_partitions_mid_call_never_races_the_new_owner(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    sandbox, url = sandbox_url
    instances = _one_instance_per_partition(sandbox, LIMITED[8:18])
    for instance in instances:
        sandbox.add_fault(FaultRule(instance_id=instance, kind="latency", latency_ms=LATENCY_MS))
    settings = _patient(gateway_settings(kafka_bootstrap, url, unique("ho"), POOL))
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    cmds = [
        command(i, "sendText", {"chatId": f"4474414290{n % 6:02d}", "message": str(uuid.uuid4())})
        for n in range(30)
        for i in instances
    ]
    await _publish(settings, cmds)
    outputs = OutputCollector(kafka_bootstrap, [settings.topics.results])
    await outputs.start()
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    try:
        async with build_worker(settings) as first, build_worker(settings) as second:
            run_first = asyncio.create_task(first.worker.run(stop_first))
            # Once results come back, every lane has its next call in flight (1.2 s each): the
            # second member joins while the first is mid-call on every partition.
            await outputs.wait_for(lambda seen: len(seen.results) >= len(instances))
            run_second = asyncio.create_task(second.worker.run(stop_second))
            results = [await outputs.result(c["id"], deadline_s=90) for c in cmds]
            stop_first.set()
            stop_second.set()
            await asyncio.gather(run_first, run_second)
            by_second = second.metrics.registry.get_sample_value(
                "gateway_wawp_requests_total", {"action": "sendText", "status_class": "2xx"}
            )
    finally:
        await outputs.stop()

    assert by_second  # partitions changed hands
    sent = _sent_ids(sandbox, instances)
    assert max(sent.values()) == 1, [t for t, n in sent.items() if n > 1]
    statuses = Counter(r["status"] for r in results)
    assert set(statuses) <= {"succeeded", "duplicate", "outcome_unknown"}, statuses
    for instance in instances:
        times = [r.at for r in arrivals(sandbox, instance)]
        assert_within_rate(times, LIMITED_RATE_PER_MINUTE, LIMITED_BURST)


async def test_a_call_left_unanswered_by_an_earlier_owner_is_outcome_unknown(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any, instance: str
) -> None:
    """An ``in_progress`` with nothing after it (the owner died mid-call) is never resent."""
    sandbox, url = sandbox_url
    settings = gateway_settings(kafka_bootstrap, url, unique("amb"), POOL)
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    params = {"chatId": normalize_chat_id("447441429009"), "message": "maybe sent"}
    cmd = command(instance, "sendText", params)
    producer = build_producer(settings.kafka)
    await producer.start()
    try:
        await _started_call(StateLog([producer], settings.topics.state), cmd)
    finally:
        await producer.stop()

    async with running_gateway(settings, sandbox, create=False) as gateway:
        result = await gateway.run(cmd, topic=settings.topics.send)
        letter = await gateway.outputs.dlq_for(cmd["id"])

    assert result["status"] == "outcome_unknown"
    assert result["error"]["code"] == "maybe_sent"
    assert dict(letter.headers)["dlq-reason"] == b"outcome_unknown"
    assert sandbox.requests(instance_id=instance, action="sendText") == []


async def test_a_new_owner_waits_out_an_unreleased_partition_and_reads_its_tail(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any, instance: str
) -> None:
    """The fence: the earlier owner did not release the partition, and starts one more call
    after the new owner's first read. The new owner waits a session timeout, reads the tail,
    and so answers that command ``outcome_unknown`` instead of sending it a second time."""

    async def history(owners: list[StateLog], partition: int) -> tuple[StateLog, int]:
        return owners[0], await owners[0].mark(partition)  # an owner was here, never released

    await _fenced(kafka_bootstrap, sandbox_url, unique("fence"), instance, history)


async def test_a_late_release_of_an_older_owner_does_not_lift_the_fence(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any, instance: str
) -> None:
    """Owners A and B marked the partition in that order, then A released it late: the last
    record is ``released``, but B has not released and starts one more call after the new
    owner's first read. The new owner still waits, and answers ``outcome_unknown``."""

    async def history(owners: list[StateLog], partition: int) -> tuple[StateLog, int]:
        older, newer = owners
        await older.mark(partition)
        await newer.mark(partition)
        return newer, await older.release(partition)

    await _fenced(kafka_bootstrap, sandbox_url, unique("fence-ab"), instance, history)


async def _fenced(
    kafka_bootstrap: str,
    sandbox_url: tuple[Sandbox, str],
    prefix: str,
    instance: str,
    history: Callable[[list[StateLog], int], Awaitable[tuple[StateLog, int]]],
) -> None:
    """``history`` writes the earlier owners' records; it returns the one still calling and
    the offset of its last record."""
    sandbox, url = sandbox_url
    settings = gateway_settings(kafka_bootstrap, url, prefix, POOL)
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    partition = partition_for(instance, PARTITIONS)
    params = {"chatId": normalize_chat_id("447441429009"), "message": "started late"}
    cmd = command(instance, "sendText", params)
    producer = build_producer(settings.kafka)
    await producer.start()
    reader = build_reader(settings.kafka)
    await reader.start()
    outputs = OutputCollector(kafka_bootstrap, [settings.topics.results])
    await outputs.start()
    owners = [StateLog([producer], settings.topics.state) for _ in range(2)]
    stopping = asyncio.Event()
    try:
        calling, last = await history(owners, partition)
        tp = TopicPartition(settings.topics.state, partition)
        reader.assign([tp])
        reader.seek(tp, last + 1)
        async with build_worker(settings) as app:
            run = asyncio.create_task(app.worker.run(stopping))
            # The new owner's marker: its first read ends there, what follows is the tail.
            await asyncio.wait_for(_next_record(reader, tp), DEADLINE_S)
            await _started_call(calling, cmd)  # still unaware, it calls once more
            await asyncio.wait_for(app.worker.assigned.wait(), DEADLINE_S)
            await producer.send_and_wait(
                settings.topics.send, json.dumps(cmd).encode(), key=instance.encode()
            )
            result = await outputs.result(cmd["id"])
            stopping.set()
            await run
    finally:
        await outputs.stop()
        await reader.stop()
        await producer.stop()

    assert result["status"] == "outcome_unknown"
    assert sandbox.requests(instance_id=instance, action="sendText") == []


async def _started_call(state_log: StateLog, cmd: dict[str, Any]) -> None:
    """The ``in_progress`` a worker writes before calling Wawp for ``cmd``."""
    instance = cmd["instance_id"]
    event = StateEvent(
        instance_id=instance,
        key=cmd["id"],
        status=StateStatus.IN_PROGRESS,
        command_id=cmd["id"],
        replay_count=0,
        fingerprint=fingerprint(instance, cmd["action"], cmd["params"]),
        recorded_at=time.time(),
        attempts=1,
        first_attempt_at=time.time(),
    )
    await state_log.write(
        partition_for(instance, PARTITIONS),
        record_key(instance, cmd["id"]),
        encode_event(event, correlation_id=None, action=cmd["action"]),
    )


async def _next_record(reader: Any, tp: TopicPartition) -> None:
    while not (await reader.getmany(tp, timeout_ms=100)).get(tp):
        pass


async def test_a_restarted_worker_restores_what_its_predecessor_sent(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any, instance: str
) -> None:
    sandbox, url = sandbox_url
    settings = gateway_settings(kafka_bootstrap, url, unique("rs"), POOL)
    key = f"order-{uuid.uuid4()}"
    params = {"chatId": "447441429009", "message": "once"}
    async with running_gateway(settings, sandbox) as gateway:
        first = await gateway.run(
            command(instance, "sendText", params, idempotency_key=key),
            topic=settings.topics.send,
        )
    async with running_gateway(settings, sandbox, create=False) as gateway:
        again = await gateway.run(
            command(instance, "sendText", params, idempotency_key=key),
            topic=settings.topics.send,
        )

    assert first["status"] == "succeeded"
    assert again["status"] == "duplicate"
    assert again["message_id"] == first["message_id"]
    assert len(sandbox.requests(instance_id=instance, action="sendText")) == 1


async def test_a_restart_on_the_same_store_reads_only_the_changelog_tail(
    kafka_bootstrap: str,
    sandbox_url: tuple[Sandbox, str],
    unique: Any,
    instance: str,
    tmp_path: Any,
) -> None:
    """The store directory survives the restart: its checkpoints (written at the restore and at
    ``released``) spare the new run the records before them, and its keys still block."""
    sandbox, url = sandbox_url
    settings = gateway_settings(kafka_bootstrap, url, unique("ck"), POOL)
    settings = settings.model_copy(
        update={
            "idempotency": settings.idempotency.model_copy(
                update={"store_dir": str(tmp_path / "store")}
            )
        }
    )
    key = f"order-{uuid.uuid4()}"
    params = {"chatId": "447441429009", "message": "checkpointed"}
    with capture_logs() as first_logs:
        async with running_gateway(settings, sandbox) as gateway:
            cmds = [command(instance, "sendText", params, idempotency_key=key)] + [
                command(instance, "sendText", {**params, "message": f"n{n}"}) for n in range(40)
            ]
            first = [await gateway.run(c, topic=settings.topics.send) for c in cmds]
    with capture_logs() as second_logs:
        async with running_gateway(settings, sandbox, create=False) as gateway:
            again = await gateway.run(
                command(instance, "sendText", params, idempotency_key=key),
                topic=settings.topics.send,
            )

    def restored(logs: list[dict[str, Any]]) -> dict[str, Any]:
        return next(e for e in logs if e["event"] == "handover.restored")

    assert {r["status"] for r in first} == {"succeeded"}
    assert again["status"] == "duplicate"
    assert again["message_id"] == first[0]["message_id"]
    before, after = restored(first_logs), restored(second_logs)
    assert before["from_checkpoint"] == 0
    assert after["from_checkpoint"] == PARTITIONS
    # Nothing after the first run's checkpoints (at its released records) but the new markers:
    # the keys come from the store, none from the changelog.
    assert after["records"] == 0
    assert after["keys"] >= len(cmds)
