"""Every catalog action runs end to end: Kafka -> worker -> sandbox -> result, on one worker."""

from __future__ import annotations

from typing import Any

import pytest

from examples import CHAT, valid_params
from wawp_gateway.sandbox import Sandbox
from wawp_gateway.wawp.catalog import ACTIONS, MESSAGE_CREATING_ACTIONS

from .harness import Gateway, command

_NEEDS_MESSAGE = sorted(
    a for a, s in ACTIONS.items() if any(p.name == "messageId" for p in s.params)
)


async def _sent_message_id(gateway: Gateway, instance: str) -> str:
    result = await gateway.run(
        command(instance, "sendText", {"chatId": CHAT, "message": "to act on"}),
        topic=gateway.settings.topics.send,
    )
    assert result["status"] == "succeeded", result
    return str(result["message_id"])


@pytest.mark.parametrize("action", sorted(ACTIONS))
async def test_every_action_succeeds_through_kafka(
    gateway: Gateway, sandbox: Sandbox, instance: str, action: str
) -> None:
    """Each action reaches the sandbox on its own route exactly once and ends succeeded."""
    params: dict[str, Any] = valid_params(action)
    if action in _NEEDS_MESSAGE:
        params["messageId"] = await _sent_message_id(gateway, instance)
        params["chatId"] = CHAT
    sandbox.clear_requests()
    topic = gateway.settings.topics.send if ACTIONS[action].input_topic == "send" else None

    result = await gateway.run(command(instance, action, params), topic=topic)

    assert result["status"] == "succeeded", result
    assert result["attempts"] == 1
    assert 200 <= (result["http_status"] or 0) < 300
    calls = [r for r in sandbox.requests(action=action) if r.status != 404 or r.action]
    assert [c.action for c in calls] == [action], [
        (c.method, c.path, c.status) for c in sandbox.requests()
    ]
    assert calls[0].token_valid
    if action in MESSAGE_CREATING_ACTIONS:
        assert result["message_id"], result
    else:
        assert result["message_id"] is None
