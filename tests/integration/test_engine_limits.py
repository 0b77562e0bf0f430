"""Engine bounds that need a worker of their own: the elapsed cap for a held instance,
partitions paused (not the consumer) when their buffer is full, and the process's call slots
left free by instances that wait for their rate limit."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from examples import CHAT
from wawp_gateway.core.instances import InstanceConfig
from wawp_gateway.core.sections import EngineSettings, RetrySettings, ShutdownSettings
from wawp_gateway.sandbox import FaultRule, Sandbox

from .conftest import POOL
from .harness import TEST_TOKEN, command, gateway_settings, running_gateway


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
