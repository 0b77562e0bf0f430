"""The access token never appears in logs, results or dead letters, whatever goes wrong."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from structlog.testing import capture_logs

from examples import CHAT
from wawp_gateway.sandbox import FaultRule, Sandbox

from .harness import TEST_TOKEN, Gateway, command


@pytest.mark.parametrize(
    "fault",
    [
        FaultRule(kind="wawp_error", status=401, code="invalid_access_token"),
        FaultRule(kind="hang"),
        FaultRule(kind="disconnect"),
        FaultRule(kind="unavailable"),
    ],
    ids=["401", "timeout", "disconnect", "503-exhausted"],
)
async def test_token_never_leaks(
    gateway: Gateway,
    sandbox: Sandbox,
    instance: str,
    fault: FaultRule,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Logs (structlog and stdlib at DEBUG), the result and the DLQ record hold no token."""
    sandbox.add_fault(fault.model_copy(update={"instance_id": instance}))
    cmd = command(instance, "sendText", {"chatId": CHAT, "message": "hi"})
    caplog.set_level(logging.DEBUG)

    with capture_logs() as events:
        result = await gateway.run(cmd, topic=gateway.settings.topics.send)
        dead: Any = await gateway.outputs.dlq_for(cmd["id"])

    assert result["status"] in ("failed", "outcome_unknown")
    assert TEST_TOKEN not in json.dumps(result)
    assert TEST_TOKEN.encode() not in dead.value
    assert all(TEST_TOKEN.encode() not in v for _, v in dead.headers)
    assert TEST_TOKEN not in repr(events)
    assert TEST_TOKEN not in caplog.text
