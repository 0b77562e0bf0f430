"""``reply_to``: the result goes there, or to the results topic with ``reply_to_error``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from examples import CHAT

from .harness import Gateway, command

TEXT = {"chatId": CHAT, "message": "hi"}


async def test_result_goes_to_reply_to_and_not_to_results(
    gateway: Gateway, instance: str, unique: Any
) -> None:
    """A legal reply_to topic gets the result, keyed by instance; wawp.results does not."""
    topic = unique("orders.wawp-results")
    await gateway.outputs.follow([topic])
    cmd = command(instance, "sendText", TEXT, reply_to=topic)

    await gateway.publish(cmd)
    result = await gateway.outputs.result(cmd["id"])

    assert result["status"] == "succeeded"
    assert result["reply_to_error"] is None
    records = [r for r in gateway.outputs.seen.by_topic[topic] if cmd["id"] in r.value.decode()]
    assert len(records) == 1
    assert records[0].key == instance.encode()
    on_results = gateway.outputs.seen.by_topic[gateway.settings.topics.results]
    assert not any(cmd["id"] in r.value.decode() for r in on_results)


@pytest.mark.parametrize(
    ("reply_to", "problem"),
    [
        ("bad topic name!", "not a legal Kafka topic name"),
        ("x" * 250, "not a legal Kafka topic name"),
        ("OWN", "own topics"),
    ],
    ids=["illegal-chars", "too-long", "own-topic"],
)
async def test_unusable_reply_to_falls_back_to_results(
    gateway: Gateway, instance: str, reply_to: str, problem: str
) -> None:
    """An illegal or gateway-owned reply_to is ignored: results topic, reply_to_error set."""
    target = gateway.settings.topics.dlq if reply_to == "OWN" else reply_to
    cmd = command(instance, "sendText", TEXT, reply_to=target)

    await gateway.publish(cmd)
    result = await gateway.outputs.result(cmd["id"])

    assert result["status"] == "succeeded"
    assert problem in result["reply_to_error"]
    on_results = gateway.outputs.seen.by_topic[gateway.settings.topics.results]
    assert any(json.loads(r.value)["command_id"] == cmd["id"] for r in on_results)
    assert gateway.app.metrics.registry.get_sample_value("gateway_reply_to_errors_total") >= 1
