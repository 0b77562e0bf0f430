"""Reconciliation (``GATEWAY_RECONCILE__ENABLED``): a maybe-sent message is looked up in its
chat. Found once: succeeded with its id; not found in the window, or found twice: still
outcome_unknown. Never resent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from wawp_gateway.core.sections import ReconcileSettings
from wawp_gateway.sandbox import FaultRule, Sandbox

from .conftest import POOL
from .harness import Gateway, command, gateway_settings, running_gateway

WINDOW_S = 2.0


@pytest_asyncio.fixture(scope="module")
async def reconciling(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str]
) -> AsyncIterator[Gateway]:
    sandbox, url = sandbox_url
    settings = gateway_settings(
        kafka_bootstrap,
        url,
        f"rc-{uuid.uuid4().hex[:8]}",
        POOL,
        reconcile=ReconcileSettings(enabled=True, window_s=WINDOW_S, interval_s=0.2),
    )
    async with running_gateway(settings, sandbox) as gateway:
        yield gateway


def _text(chat: str, message: str | None = None) -> dict[str, Any]:
    return {"chatId": chat, "message": message or f"receipt {uuid.uuid4()}"}


async def _send(gateway: Gateway, params: dict[str, Any], instance: str) -> dict[str, Any]:
    cmd = command(instance, "sendText", params)
    return await gateway.run(cmd, topic=gateway.settings.topics.send)


def _sends(sandbox: Sandbox, instance: str) -> int:
    return len(sandbox.requests(instance_id=instance, action="sendText"))


async def test_a_stored_message_is_found_and_succeeds_with_its_id(
    reconciling: Gateway, sandbox: Sandbox, instance: str
) -> None:
    sandbox.add_fault(
        FaultRule(instance_id=instance, action="sendText", kind="error_after_store", status=500)
    )
    result = await _send(reconciling, _text("447441429009"), instance)

    stored = sandbox.messages(instance)
    assert result["status"] == "succeeded", result
    assert result["message_id"] == stored[0].serialized_id
    assert _sends(sandbox, instance) == 1
    assert sandbox.requests(instance_id=instance, action="chatMessages")


async def test_a_message_never_stored_stays_unknown_after_the_window(
    reconciling: Gateway, sandbox: Sandbox, instance: str
) -> None:
    sandbox.add_fault(
        FaultRule(
            instance_id=instance, action="sendText", kind="wawp_error", status=500, store=False
        )
    )
    result = await _send(reconciling, _text("447441429009"), instance)

    assert result["status"] == "outcome_unknown"
    assert "not found in the chat" in result["error"]["message"]
    assert _sends(sandbox, instance) == 1
    assert len(sandbox.requests(instance_id=instance, action="chatMessages")) >= 2


async def test_two_matching_messages_cannot_be_told_apart(
    reconciling: Gateway, sandbox: Sandbox, instance: str
) -> None:
    params = _text("447441429009", "the same words twice")
    assert (await _send(reconciling, params, instance))["status"] == "succeeded"
    sandbox.add_fault(
        FaultRule(instance_id=instance, action="sendText", kind="error_after_store", status=500)
    )
    result = await _send(reconciling, params, instance)

    assert result["status"] == "outcome_unknown"
    assert "2 matching messages" in result["error"]["message"]
    assert _sends(sandbox, instance) == 2
