"""The gateway's own bug while handling a command: failed internal_error (DLQ ``internal``), or
``outcome_unknown`` when a POST was in flight; the worker carries on with the next command."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest_asyncio

from examples import CHAT
from wawp_gateway.sandbox import Sandbox
from wawp_gateway.wawp.catalog import ActionSpec

from .conftest import POOL
from .harness import Gateway, command, gateway_settings, running_gateway


class BuggyWawp:
    """A Wawp port with a bug: it crashes on every call of one instance."""

    def __init__(self, broken_instance: str) -> None:
        self.broken_instance = broken_instance

    async def call(self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str) -> Any:
        if instance_id == self.broken_instance:
            raise RuntimeError("bug in the gateway")
        from wawp_gateway.wawp.responses import WawpReply

        return WawpReply(200, {"ok": True}, None)


@pytest_asyncio.fixture
async def buggy(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> AsyncIterator[Gateway]:
    sandbox, url = sandbox_url
    settings = gateway_settings(kafka_bootstrap, url, unique("bug"), POOL)
    async with running_gateway(settings, sandbox, wawp=BuggyWawp(POOL[0])) as gw:
        yield gw


def headers(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_a_crash_is_reported_and_the_worker_goes_on(buggy: Gateway) -> None:
    """GET crash: internal_error; POST crash mid-call: outcome_unknown; then a good command."""
    read = command(POOL[0], "getSessionInfo", {})
    send = command(POOL[0], "sendText", {"chatId": CHAT, "message": "hi"})
    good = command(POOL[1], "getSessionInfo", {})

    read_result = await buggy.run(read)
    send_result = await buggy.run(send)
    good_result = await buggy.run(good)

    assert (read_result["status"], read_result["error"]["code"]) == ("failed", "internal_error")
    assert headers(await buggy.outputs.dlq_for(read["id"]))["dlq-reason"] == "internal"
    assert (send_result["status"], send_result["error"]["code"]) == (
        "outcome_unknown",
        "maybe_sent",
    )
    assert headers(await buggy.outputs.dlq_for(send["id"]))["dlq-reason"] == "outcome_unknown"
    assert good_result["status"] == "succeeded"
    assert "bug in the gateway" not in read_result["error"]["message"]
