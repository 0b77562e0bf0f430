"""docs/contract.md's outcomes table, row by row, against the sandbox: what is retried, what fails
at once, and what becomes ``outcome_unknown`` and is never resent."""

from __future__ import annotations

from typing import Any

import pytest

from examples import CHAT
from wawp_gateway.sandbox import FaultRule, Sandbox

from .harness import Gateway, command

TEXT = {"chatId": CHAT, "message": "hello"}


def headers(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


def calls(sandbox: Sandbox, instance: str, action: str) -> int:
    return len(sandbox.requests(instance_id=instance, action=action))


async def send_text(gateway: Gateway, instance: str) -> dict[str, Any]:
    return await gateway.run(
        command(instance, "sendText", TEXT), topic=gateway.settings.topics.send
    )


@pytest.mark.parametrize(
    "fault",
    [
        FaultRule(kind="rate_limited", retry_after_s=1, times=1),
        FaultRule(kind="unavailable", times=1),
        FaultRule(kind="wawp_error", status=500, code="proxy_error", times=1),
        FaultRule(kind="wawp_error", status=200, code="proxy_error", times=1),
    ],
    ids=["429-retry-after", "503", "proxy_error-500", "proxy_error-200"],
)
async def test_answers_wawp_did_not_act_on_are_retried(
    gateway: Gateway, sandbox: Sandbox, instance: str, fault: FaultRule
) -> None:
    """429, 503 and proxy_error: Wawp did not act, so even a POST is sent again."""
    sandbox.add_fault(fault.model_copy(update={"instance_id": instance}))

    result = await send_text(gateway, instance)

    assert result["status"] == "succeeded", result
    assert result["attempts"] == 2
    assert calls(sandbox, instance, "sendText") == 2
    assert len(sandbox.messages(instance)) == 1


@pytest.mark.parametrize(
    ("status", "code", "expected_code", "reason"),
    [
        (400, "rest_invalid_param", "rest_invalid_param", "permanent"),
        (401, "invalid_access_token", "invalid_access_token", "auth"),
        (403, "quota_reached", "quota_reached", "permanent"),
        (404, "invalid_instance", "invalid_instance", "permanent"),
        (422, None, "http_422", "permanent"),
    ],
)
async def test_4xx_fails_at_once_with_wawps_code(
    gateway: Gateway,
    sandbox: Sandbox,
    instance: str,
    status: int,
    code: str | None,
    expected_code: str,
    reason: str,
) -> None:
    """400/401/403/404 and any other 4xx: failed, no retry, Wawp's code (else http_<status>)."""
    sandbox.add_fault(FaultRule(instance_id=instance, kind="wawp_error", status=status, code=code))
    cmd = command(instance, "sendText", TEXT)

    result = await gateway.run(cmd, topic=gateway.settings.topics.send)

    assert result["status"] == "failed"
    assert result["error"]["code"] == expected_code
    assert result["error"]["retryable"] is False
    assert result["http_status"] == status
    assert result["attempts"] == 1
    assert calls(sandbox, instance, "sendText") == 1
    dead = await gateway.outputs.dlq_for(cmd["id"])
    assert headers(dead)["dlq-reason"] == reason
    assert headers(dead)["dlq-error-code"] == expected_code


async def test_unknown_instance_at_wawp_is_invalid_instance(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """A deleted instance answers 404 invalid_instance: failed, not retried."""
    sandbox.delete_instance(instance)

    result = await send_text(gateway, instance)

    assert (result["status"], result["error"]["code"]) == ("failed", "invalid_instance")
    assert calls(sandbox, instance, "sendText") == 1


@pytest.mark.parametrize(
    "fault",
    [
        FaultRule(kind="error_after_store", status=500),
        FaultRule(kind="error_after_store", status=502),
        FaultRule(kind="error_after_store", status=504),
        FaultRule(kind="wawp_error", status=502, code="wawp_upstream_error", store=True),
        FaultRule(kind="wawp_error", status=500, code="server_not_found", store=True),
        FaultRule(kind="wawp_error", status=302, store=True),
        FaultRule(kind="hang"),
        FaultRule(kind="disconnect"),
    ],
    ids=["500", "502", "504", "upstream", "server_not_found", "3xx", "timeout", "disconnect"],
)
async def test_maybe_processed_post_is_outcome_unknown_and_never_resent(
    gateway: Gateway, sandbox: Sandbox, instance: str, fault: FaultRule
) -> None:
    """Wawp may have acted on the POST: outcome_unknown (maybe_sent), exactly one call."""
    sandbox.add_fault(fault.model_copy(update={"instance_id": instance}))
    cmd = command(instance, "sendText", TEXT)

    result = await gateway.run(cmd, topic=gateway.settings.topics.send)

    assert result["status"] == "outcome_unknown", result
    assert result["error"]["code"] == "maybe_sent"
    assert result["attempts"] == 1
    assert calls(sandbox, instance, "sendText") == 1
    dead = await gateway.outputs.dlq_for(cmd["id"])
    assert headers(dead)["dlq-reason"] == "outcome_unknown"


@pytest.mark.parametrize(
    ("action", "params", "fault"),
    [
        ("getSessionInfo", {}, FaultRule(kind="error_after_store", status=500, times=1)),
        ("getSessionInfo", {}, FaultRule(kind="hang", times=1)),
        ("getSessionInfo", {}, FaultRule(kind="disconnect", times=1)),
        ("setProfileStatus", {"status": "busy"}, FaultRule(kind="wawp_error", status=504, times=1)),
        ("labelDelete", {"labelId": "5"}, FaultRule(kind="error_after_store", status=502, times=1)),
    ],
    ids=["GET-500", "GET-timeout", "GET-disconnect", "PUT-504", "DELETE-502"],
)
async def test_maybe_processed_idempotent_methods_are_retried(
    gateway: Gateway,
    sandbox: Sandbox,
    instance: str,
    action: str,
    params: dict[str, Any],
    fault: FaultRule,
) -> None:
    """GET/PUT/DELETE are safe to repeat, so a maybe-processed answer is retried."""
    sandbox.add_fault(fault.model_copy(update={"instance_id": instance, "action": action}))

    result = await gateway.run(command(instance, action, params))

    assert result["status"] == "succeeded", result
    assert result["attempts"] == 2
    assert calls(sandbox, instance, action) == 2


async def test_quota_text_in_a_2xx_is_failed(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """A 2xx quota text without a message id: failed quota_exceeded, DLQ permanent."""
    sandbox.add_fault(FaultRule(instance_id=instance, kind="quota_text"))
    cmd = command(instance, "sendText", TEXT)

    result = await gateway.run(cmd, topic=gateway.settings.topics.send)

    assert (result["status"], result["error"]["code"]) == ("failed", "quota_exceeded")
    assert result["attempts"] == 1
    assert headers(await gateway.outputs.dlq_for(cmd["id"]))["dlq-reason"] == "permanent"


async def test_queued_form_succeeds_without_message_id(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """Wawp's queued {sent: true} form is a success whose message id is not known yet."""
    sandbox.add_fault(FaultRule(instance_id=instance, kind="queued"))

    result = await send_text(gateway, instance)

    assert result["status"] == "succeeded"
    assert result["message_id"] is None


async def test_retries_stop_at_max_attempts(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """A Wawp that keeps answering a bare 503: failed after max_attempts, retries_exhausted."""
    sandbox.add_fault(FaultRule(instance_id=instance, kind="wawp_error", status=503))
    cmd = command(instance, "sendText", TEXT)

    result = await gateway.run(cmd, topic=gateway.settings.topics.send)

    max_attempts = gateway.settings.retry.max_attempts
    assert result["status"] == "failed"
    assert result["error"] == {
        "code": "http_503",
        "message": result["error"]["message"],
        "retryable": True,
    }
    assert result["attempts"] == max_attempts
    assert calls(sandbox, instance, "sendText") == max_attempts
    letter = headers(await gateway.outputs.dlq_for(cmd["id"]))
    assert letter["dlq-reason"] == "retries_exhausted"
    assert letter["dlq-attempts"] == str(max_attempts)
    assert letter["dlq-first-attempt-at"] <= letter["dlq-last-attempt-at"]
