"""The worker's operational metrics under known events: retries, idempotency hits, the circuit
gauge, the oldest pending command's age (read back from the gateway's registry)."""

from __future__ import annotations

import asyncio
import time

from examples import CHAT
from wawp_gateway.sandbox import FaultRule, Sandbox

from .harness import Gateway, command


def _value(gateway: Gateway, name: str, **labels: str) -> float:
    return gateway.app.metrics.registry.get_sample_value(name, labels) or 0.0


async def _until(check: object, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)  # sleep-ok: polling a condition under a deadline


async def test_retries_are_counted_by_the_failure_that_caused_them(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """Two 503s then success: two retries with reason 5xx."""
    sandbox.add_fault(FaultRule(instance_id=instance, kind="unavailable", times=2))
    before = _value(gateway, "gateway_retries_total", reason="5xx")

    result = await gateway.run(command(instance, "sendText", {"chatId": CHAT, "message": "r"}))

    assert result["status"] == "succeeded"
    assert result["attempts"] == 3
    assert _value(gateway, "gateway_retries_total", reason="5xx") - before == 2


async def test_a_duplicate_is_an_idempotency_hit(gateway: Gateway, instance: str) -> None:
    params = {"chatId": CHAT, "message": "once"}
    first = command(instance, "sendText", params, idempotency_key="k-dup")
    again = command(instance, "sendText", params, idempotency_key="k-dup")
    before = _value(gateway, "gateway_idempotency_hits_total", verdict="duplicate")

    assert (await gateway.run(first))["status"] == "succeeded"
    assert (await gateway.run(again))["status"] == "duplicate"

    assert _value(gateway, "gateway_idempotency_hits_total", verdict="duplicate") - before == 1


async def test_the_circuit_gauge_follows_the_instance_session(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """Session down: after the threshold of failures the gauge reads 1; startSession closes the
    circuit and it reads 0 again."""
    sandbox.set_session_status(instance, "STOPPED")
    send = gateway.settings.topics.send
    threshold = gateway.settings.engine.circuit_threshold
    for i in range(threshold):
        cmd = command(instance, "sendText", {"chatId": CHAT, "message": f"down{i}"})
        await gateway.publish(cmd, topic=send)
        assert (await gateway.outputs.result(cmd["id"]))["status"] == "failed"

    assert _value(gateway, "gateway_circuit_open", instance=instance) == 1

    assert (await gateway.run(command(instance, "startSession", {})))["status"] == "succeeded"
    assert _value(gateway, "gateway_circuit_open", instance=instance) == 0


async def test_the_oldest_pending_age_grows_while_a_command_waits(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    sandbox.add_fault(FaultRule(instance_id=instance, kind="latency", latency_ms=900))
    cmd = command(instance, "sendText", {"chatId": CHAT, "message": "slow"})

    await gateway.publish(cmd)
    await _until(lambda: _value(gateway, "gateway_oldest_pending_age_seconds") >= 0.3)
    assert (await gateway.outputs.result(cmd["id"]))["status"] == "succeeded"
