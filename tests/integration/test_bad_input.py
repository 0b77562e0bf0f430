"""Bad input never crashes or stalls the worker and is never dropped silently."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from examples import CHAT
from wawp_gateway.sandbox import Sandbox

from .harness import Gateway, command

IMAGE = {"url": "https://example.com/a.png", "filename": "a.png", "mimetype": "image/png"}


def headers(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def _dead_letter_with_key(gateway: Gateway, key: bytes) -> Any:
    return await gateway.outputs.wait_for(
        lambda seen: next((r for r in seen.dlq if r.key == key), None)
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'{"schema": "wawp.command.v1", "action": "sendText"}', "no usable id"),
        (b'{"id": ""}', "no usable id"),
        (json.dumps({"id": "x" * 129}).encode(), "no usable id"),
        (b'{"id": 42}', "no usable id"),
    ],
    ids=["bytes", "array", "no-id", "empty-id", "long-id", "int-id"],
)
async def test_undecodable_records_go_to_the_dlq_as_they_came(
    gateway: Gateway, unique: Any, value: bytes, problem: str
) -> None:
    """Not a command at all: DLQ with reason undecodable, original bytes and key, all headers."""
    key = unique("key").encode()

    await gateway.publish(value, key=key, partition=1)
    dead = await _dead_letter_with_key(gateway, key)

    assert dead.value == value
    meta = headers(dead)
    assert meta["dlq-reason"] == "undecodable"
    assert meta["dlq-error-code"] == "undecodable"
    assert problem in meta["dlq-error-message"]
    assert meta["dlq-original-topic"] == gateway.settings.topics.command
    assert meta["dlq-original-partition"] == "1"
    assert int(meta["dlq-original-offset"]) >= 0
    assert meta["dlq-attempts"] == "0"
    assert meta["dlq-replay-count"] == "0"


def _expired() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


@pytest.mark.parametrize(
    ("mutate", "status", "code", "reason"),
    [
        (lambda c: c.pop("schema"), "rejected", "invalid_command", "validation"),
        (lambda c: c.update(schema="wawp.command.v2"), "rejected", "invalid_command", "validation"),
        (
            lambda c: c.update(not_after="2026-11-24T12:00:00"),
            "rejected",
            "invalid_command",
            "validation",
        ),
        (lambda c: c.update(action="sendFax"), "rejected", "unknown_action", "validation"),
        (
            lambda c: c.update(instance_id="NOTCONFIGURED"),
            "rejected",
            "unknown_instance",
            "unknown_instance",
        ),
        (lambda c: c["params"].update(message=12), "rejected", "invalid_params", "validation"),
        (lambda c: c["params"].update(colour="red"), "rejected", "invalid_params", "validation"),
        (
            lambda c: c["params"].update(message="x" * 70_000),
            "rejected",
            "invalid_params",
            "validation",
        ),
        (
            lambda c: c["params"].update(chatId="not-a-number"),
            "rejected",
            "invalid_params",
            "validation",
        ),
        (lambda c: c.update(not_after=_expired()), "expired", "not_after_passed", "expired"),
    ],
    ids=[
        "no-schema",
        "other-schema",
        "naive-time",
        "unknown-action",
        "unknown-instance",
        "wrong-type",
        "unknown-param",
        "oversized",
        "bad-chat-id",
        "expired",
    ],
)
async def test_bad_commands_get_a_result_and_a_dead_letter(
    gateway: Gateway,
    sandbox: Sandbox,
    instance: str,
    mutate: Any,
    status: str,
    code: str,
    reason: str,
) -> None:
    """A command with an id but a problem: typed result, DLQ record, no Wawp call."""
    cmd = command(instance, "sendText", {"chatId": CHAT, "message": "hi"})
    mutate(cmd)

    result = await gateway.run(cmd, key=instance.encode())

    assert (result["status"], result["error"]["code"]) == (status, code), result
    assert result["attempts"] == 0
    assert result["http_status"] is None
    assert headers(await gateway.outputs.dlq_for(cmd["id"]))["dlq-reason"] == reason
    assert sandbox.requests(instance_id=instance) == []


async def test_bad_mimetype_is_rejected_before_sending(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """sendImage accepts png and jpeg only."""
    cmd = command(
        instance, "sendImage", {"chatId": CHAT, "file": {**IMAGE, "mimetype": "image/gif"}}
    )

    result = await gateway.run(cmd)

    assert (result["status"], result["error"]["code"]) == ("rejected", "invalid_params")
    assert "file.mimetype" in result["error"]["message"]
    assert sandbox.requests(instance_id=instance) == []


async def test_tokens_in_a_command_are_refused_and_redacted(
    gateway: Gateway, instance: str
) -> None:
    """Credentials never travel in commands; the DLQ copy has them replaced by ***."""
    cmd = command(instance, "sendText", {"chatId": CHAT, "message": "hi", "access_token": "LEAK1"})

    result = await gateway.run(cmd)
    dead = await gateway.outputs.dlq_for(cmd["id"])

    assert (result["status"], result["error"]["code"]) == ("rejected", "invalid_params")
    assert b"LEAK1" not in dead.value
    assert json.loads(dead.value)["params"]["access_token"] == "***"
    assert headers(dead)["dlq-redacted"] == "true"
    assert "LEAK1" not in json.dumps(result)


async def test_the_next_good_command_still_succeeds(gateway: Gateway, instance: str) -> None:
    """After garbage on the same partition, a good command is processed normally."""
    await gateway.publish(b"garbage", key=instance.encode())
    await gateway.publish({"id": "half", "schema": "nope"}, key=instance.encode())

    result = await gateway.run(command(instance, "sendText", {"chatId": CHAT, "message": "ok"}))

    assert result["status"] == "succeeded"


async def test_rejections_honour_reply_to_and_keep_correlation(
    gateway: Gateway, instance: str, unique: Any
) -> None:
    """A command that could be parsed gets its result on reply_to, even when rejected."""
    reply_topic = unique("replies")
    await gateway.outputs.follow([reply_topic])
    cmd = command(instance, "sendFax", {}, reply_to=reply_topic, correlation_id="corr-1")

    await gateway.publish(cmd)
    result = await gateway.outputs.result(cmd["id"])

    assert result["status"] == "rejected"
    assert result["correlation_id"] == "corr-1"
    located = gateway.outputs.seen.by_topic[reply_topic]
    assert any(json.loads(r.value)["command_id"] == cmd["id"] for r in located)
