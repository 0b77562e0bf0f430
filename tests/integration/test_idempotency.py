"""docs/contract.md "Idempotency and replay" through Kafka and the sandbox: what a key blocks,
what it lets through, and that the sandbox's own log never shows a second send."""

from __future__ import annotations

import uuid
from typing import Any

from examples import CHAT
from wawp_gateway.sandbox import FaultRule, Sandbox
from wawp_gateway.worker.intake import OVERRIDE_UNKNOWN_HEADER, REPLAY_COUNT_HEADER

from .harness import Gateway, command

TEXT = {"chatId": CHAT, "message": "hello"}
OTHER_TEXT = {"chatId": CHAT, "message": "a different message"}


def sends(sandbox: Sandbox, instance: str) -> int:
    return len(sandbox.requests(instance_id=instance, action="sendText"))


def keyed(instance: str, key: str, params: dict[str, Any] = TEXT, **extra: Any) -> dict[str, Any]:
    return command(instance, "sendText", params, idempotency_key=key, **extra)


async def run(gateway: Gateway, cmd: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return await gateway.run(cmd, topic=gateway.settings.topics.send, **kwargs)


def replay_headers(count: int, *extra: tuple[str, bytes]) -> list[tuple[str, bytes]]:
    return [(REPLAY_COUNT_HEADER, str(count).encode()), *extra]


async def test_same_key_and_payload_after_success_is_a_duplicate(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    key = f"order-{uuid.uuid4()}"
    first = await run(gateway, keyed(instance, key, correlation_id="a"))
    second = await run(gateway, keyed(instance, key, correlation_id="b"))

    assert first["status"] == "succeeded"
    assert second["status"] == "duplicate"
    assert second["original_status"] == "succeeded"
    assert second["message_id"] == first["message_id"]
    assert second["attempts"] == 0
    assert second["correlation_id"] == "b"
    assert sends(sandbox, instance) == 1


async def test_a_different_payload_with_a_blocking_key_is_a_conflict(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    key = f"order-{uuid.uuid4()}"
    await run(gateway, keyed(instance, key))
    cmd = keyed(instance, key, OTHER_TEXT)
    result = await run(gateway, cmd)

    assert result["status"] == "rejected"
    assert result["error"]["code"] == "idempotency_conflict"
    letter = await gateway.outputs.dlq_for(cmd["id"])
    assert dict(letter.headers)["dlq-reason"] == b"idempotency_conflict"
    assert sends(sandbox, instance) == 1


async def test_keys_are_scoped_per_instance(
    gateway: Gateway, sandbox: Sandbox, instance: str, neighbour_of: Any
) -> None:
    other = neighbour_of(instance)
    key = f"order-{uuid.uuid4()}"
    assert (await run(gateway, keyed(instance, key)))["status"] == "succeeded"
    assert (await run(gateway, keyed(other, key)))["status"] == "succeeded"


async def test_a_failed_key_does_not_block_the_same_command(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    sandbox.add_fault(
        FaultRule(
            instance_id=instance, kind="wawp_error", status=400, code="rest_invalid_param", times=1
        )
    )
    key = f"order-{uuid.uuid4()}"
    first = await run(gateway, keyed(instance, key))
    again = await run(gateway, keyed(instance, key))

    assert first["status"] == "failed"
    assert again["status"] == "succeeded"
    assert sends(sandbox, instance) == 2


async def test_a_redelivered_finished_command_is_neither_run_nor_answered_again(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """Same id, same replay count: never executed again, whatever its outcome was, and no
    second result (its result was out before its terminal record)."""
    sandbox.add_fault(
        FaultRule(instance_id=instance, kind="wawp_error", status=403, code="forbidden", times=1)
    )
    cmd = command(instance, "sendText", TEXT)
    first = await run(gateway, cmd)
    await gateway.publish(cmd, topic=gateway.settings.topics.send)
    # The same instance and chat run in one lane, in order: once the next command is answered,
    # the re-delivered one ahead of it was handled.
    after = await run(gateway, command(instance, "sendText", TEXT))

    assert first["status"] == "failed"
    assert after["status"] == "succeeded"
    assert [r["status"] for r in gateway.outputs.seen.results[cmd["id"]]] == ["failed"]
    assert sends(sandbox, instance) == 2


async def test_a_replayed_failed_command_runs_anew_and_a_replayed_success_does_not(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    sandbox.add_fault(
        FaultRule(
            instance_id=instance, kind="wawp_error", status=400, code="rest_invalid_param", times=1
        )
    )
    cmd = command(instance, "sendText", TEXT)
    assert (await run(gateway, cmd))["status"] == "failed"
    replayed = await _second_result(gateway, cmd, replay_headers(1))
    assert replayed["status"] == "succeeded"
    assert replayed["replay_count"] == 1
    again = await _second_result(gateway, cmd, replay_headers(2), index=2)
    assert again["status"] == "duplicate"
    assert again["original_status"] == "succeeded"
    assert sends(sandbox, instance) == 2


async def test_outcome_unknown_blocks_until_an_explicit_override(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    sandbox.add_fault(
        FaultRule(instance_id=instance, kind="error_after_store", status=500, times=1)
    )
    cmd = command(instance, "sendText", TEXT)
    assert (await run(gateway, cmd))["status"] == "outcome_unknown"
    blocked = await _second_result(gateway, cmd, replay_headers(1))
    assert blocked["status"] == "duplicate"
    assert blocked["original_status"] == "outcome_unknown"
    overridden = await _second_result(
        gateway, cmd, replay_headers(2, (OVERRIDE_UNKNOWN_HEADER, b"true")), index=2
    )
    assert overridden["status"] == "succeeded"
    assert sends(sandbox, instance) == 2


async def test_the_same_key_in_flight_waits_for_the_first(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """The same command on both input topics: two lanes, one send; the second repeats it."""
    sandbox.add_fault(FaultRule(instance_id=instance, kind="latency", latency_ms=300))
    key = f"order-{uuid.uuid4()}"
    first, second = keyed(instance, key), keyed(instance, key)
    await gateway.publish(first, topic=gateway.settings.topics.send)
    await gateway.publish(second, topic=gateway.settings.topics.command)
    a = await gateway.outputs.result(first["id"])
    b = await gateway.outputs.result(second["id"])

    assert sorted([a["status"], b["status"]]) == ["duplicate", "succeeded"]
    assert sends(sandbox, instance) == 1


async def _second_result(
    gateway: Gateway, cmd: dict[str, Any], headers: list[tuple[str, bytes]], index: int = 1
) -> dict[str, Any]:
    await gateway.publish(cmd, topic=gateway.settings.topics.send, headers=headers)
    found = await gateway.outputs.wait_for(
        lambda seen: len(seen.results[cmd["id"]]) > index and seen.results[cmd["id"]]
    )
    return dict(found[index])
