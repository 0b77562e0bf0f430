"""Engine bounds that need a worker of their own: the elapsed cap for a held instance,
partitions paused (not the consumer) when their buffer is full, a buffer bound that holds under
a fetch far larger than it, and the process's call slots
left free by instances that wait for their rate limit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from structlog.testing import capture_logs

from examples import CHAT
from wawp_gateway.core.instances import InstanceConfig
from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.sections import EngineSettings, RetrySettings, ShutdownSettings
from wawp_gateway.sandbox import FaultRule, Sandbox
from wawp_gateway.wawp.chatid import normalize_chat_id
from wawp_gateway.worker.lanes import LaneBook

from .conftest import POOL
from .harness import PARTITIONS, TEST_TOKEN, command, gateway_settings, running_gateway


def headers(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_a_command_held_past_the_elapsed_cap_fails_instance_unavailable(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    """An open circuit holds the instance's sends; one held past max_elapsed_s is failed
    instance_unavailable (DLQ retries_exhausted) without a call."""
    sandbox, url = sandbox_url
    instance = POOL[-30]
    sandbox.add_instance(instance, TEST_TOKEN, status="STOPPED")
    settings = gateway_settings(
        kafka_bootstrap,
        url,
        unique("held"),
        POOL,
        engine=EngineSettings(circuit_threshold=1, circuit_cooldown_s=60),
        retry=RetrySettings(max_attempts=3, max_elapsed_s=0.5, backoff_initial_s=0.01),
    )
    first = command(instance, "sendText", {"chatId": CHAT, "message": "opens the circuit"})
    held = command(instance, "sendText", {"chatId": CHAT, "message": "held"})

    async with running_gateway(settings, sandbox) as gw:
        opened = await gw.run(first, topic=settings.topics.send)
        result = await gw.run(held, topic=settings.topics.send)
        letter = headers(await gw.outputs.dlq_for(held["id"]))

    assert opened["error"]["code"] == "session_not_working"
    assert (result["status"], result["error"]["code"]) == ("failed", "instance_unavailable")
    assert result["attempts"] == 0
    assert result["error"]["retryable"] is True
    assert letter["dlq-reason"] == "retries_exhausted"
    assert len(sandbox.requests(instance_id=instance, action="sendText")) == 1


async def test_a_full_partition_is_paused_then_resumed_and_nothing_is_lost(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    """A slow lane fills its partition's small buffer: that partition pauses, resumes once it
    drains, and every command finishes in order."""
    sandbox, url = sandbox_url
    instance = POOL[-31]
    sandbox.add_instance(instance, TEST_TOKEN)
    sandbox.add_fault(FaultRule(instance_id=instance, kind="latency", latency_ms=20))
    settings = gateway_settings(
        kafka_bootstrap,
        url,
        unique("full"),
        POOL,
        engine=EngineSettings(max_buffered_per_partition=4, max_buffered_per_instance=4),
    )
    cmds = [command(instance, "sendText", {"chatId": CHAT, "message": f"p{i}"}) for i in range(30)]

    with capture_logs() as logs:
        async with running_gateway(settings, sandbox) as gw:
            for cmd in cmds:
                await gw.publish(cmd, topic=settings.topics.send)
            results = [await gw.outputs.result(c["id"]) for c in cmds]

    events = [e["event"] for e in logs]
    assert "partition.paused" in events
    assert "partition.resumed" in events
    assert all(r["status"] == "succeeded" for r in results)
    sent = [m.body for m in sandbox.messages(instance, CHAT)]
    assert sent == [f"p{i}" for i in range(30)]


async def test_instances_waiting_for_their_rate_limit_hold_no_call_slot(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    """Two call slots in the process; two instances whose first token is a minute away queue
    four commands in four chats; a third instance's commands still run at once (before, the
    waiting commands held both slots and it waited that minute)."""
    sandbox, url = sandbox_url
    slow = (POOL[-32], POOL[-33])
    free = POOL[-34]
    for instance in (*slow, free):
        sandbox.add_instance(instance, TEST_TOKEN)
    prefix = unique("slots")
    base = gateway_settings(kafka_bootstrap, url, prefix, POOL)
    limits = base.instances.model_copy(
        update={
            "instances": {
                **base.instances.instances,
                **{i: InstanceConfig(rate_per_minute=1, burst=1) for i in slow},
            }
        }
    )
    settings = base.model_copy(
        update={
            "instances": limits,
            "engine": EngineSettings(max_in_flight=2, circuit_threshold=3, circuit_cooldown_s=1.0),
            "shutdown": ShutdownSettings(grace_s=0.5),
        }
    )
    waiting = [
        command(instance, "sendText", {"chatId": f"44744142900{n}@c.us", "message": "later"})
        for instance in slow
        for n in range(2)
    ]
    quick = [command(free, "sendText", {"chatId": CHAT, "message": f"q{i}"}) for i in range(6)]

    async with running_gateway(settings, sandbox) as gw:
        for cmd in waiting:
            await gw.publish(cmd, topic=settings.topics.send)
        for cmd in quick:
            await gw.publish(cmd, topic=settings.topics.send)
        results = [await gw.outputs.result(c["id"], deadline_s=20) for c in quick]

    assert all(r["status"] == "succeeded" for r in results)
    assert [m.body for m in sandbox.messages(free, CHAT)] == [f"q{i}" for i in range(6)]
    for instance in slow:
        assert sandbox.requests(instance_id=instance, action="sendText") == []


async def test_a_fetch_far_larger_than_the_buffer_never_overfills_it(
    kafka_bootstrap: str,
    sandbox_url: tuple[Sandbox, str],
    unique: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """300 commands wait on one partition before the worker starts, so its first fetch brings
    them all; a buffer bound of 8 holds at every admission (the rest are fetched again), and
    every command finishes once, in its chat's order."""
    sandbox, url = sandbox_url
    instance = POOL[-35]
    sandbox.add_instance(instance, TEST_TOKEN)
    sandbox.add_fault(FaultRule(instance_id=instance, kind="latency", latency_ms=5))
    settings = gateway_settings(
        kafka_bootstrap,
        url,
        unique("bound"),
        POOL,
        engine=EngineSettings(max_buffered_per_partition=8, max_buffered_per_instance=500),
    )
    chats = [f"4474414290{n:02d}" for n in range(30)]
    cmds = [
        command(instance, "sendText", {"chatId": chats[i % 30], "message": f"b{i}"})
        for i in range(300)
    ]
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(settings.topics.send, json.dumps(c).encode(), key=instance.encode())
            for c in cmds
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    most: dict[Any, int] = {}
    add = LaneBook.add

    def counting_add(self: LaneBook[Any, Any], partition: Any, *args: Any) -> bool:
        started = add(self, partition, *args)
        most[partition] = max(most.get(partition, 0), self.buffered(partition))
        return started

    monkeypatch.setattr(LaneBook, "add", counting_add)

    with capture_logs() as logs:
        async with running_gateway(settings, sandbox, create=False) as gw:
            results = [await gw.outputs.result(c["id"]) for c in cmds]
            answered = {c["id"]: len(gw.outputs.seen.results[c["id"]]) for c in cmds}

    assert max(most.values()) == 8
    assert [e["event"] for e in logs].count("partition.paused") > 1
    assert all(r["status"] == "succeeded" for r in results)
    assert set(answered.values()) == {1}
    for n, chat in enumerate(chats):
        sent_texts = [m.body for m in sandbox.messages(instance, normalize_chat_id(chat))]
        assert sent_texts == [f"b{i}" for i in range(n, 300, 30)]
