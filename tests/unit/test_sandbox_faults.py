"""Fault rules as a real client sees them: statuses, bodies, stores, hangs and drops."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
import pytest_asyncio

from fakes import fresh_sandbox
from wawp_gateway.sandbox import FaultRule, Sandbox, SandboxConfig, create_app, running_sandbox

INSTANCE = "ABC123DEF456"
TOKEN = "tok-faults"
PARAMS = {
    "instance_id": INSTANCE,
    "access_token": TOKEN,
    "chatId": "447441429009@c.us",
    "message": "x",
}
SEND = "/wp-json/awp/v1/send"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server() -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    box = Sandbox(SandboxConfig(instances={INSTANCE: TOKEN}, seed=7))
    async with running_sandbox(box) as url, httpx.AsyncClient(base_url=url) as client:
        yield box, client


@pytest.fixture
def sandbox(server: tuple[Sandbox, httpx.AsyncClient]) -> tuple[Sandbox, httpx.AsyncClient]:
    fresh_sandbox(server[0], INSTANCE, TOKEN)
    return server


@pytest.mark.parametrize(
    ("rule", "status", "code", "stored"),
    [
        (FaultRule(kind="rate_limited"), 429, "rate_limited", False),
        (FaultRule(kind="unavailable"), 503, "service_unavailable", False),
        (FaultRule(kind="error_after_store"), 500, "internal_server_error", True),
        (FaultRule(kind="error_after_store", status=502), 502, "bad_gateway", True),
        (FaultRule(kind="error_after_store", status=504), 504, "gateway_timeout", True),
        (FaultRule(kind="wawp_error", status=502, code="proxy_error"), 502, "proxy_error", False),
        (
            FaultRule(kind="wawp_error", status=500, code="wawp_upstream_error", store=True),
            500,
            "wawp_upstream_error",
            True,
        ),
        (
            FaultRule(kind="wawp_error", status=403, code="quota_reached"),
            403,
            "quota_reached",
            False,
        ),
        (FaultRule(kind="rate_limited", store=True), 429, "rate_limited", True),
    ],
)
async def test_error_faults(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
    rule: FaultRule,
    status: int,
    code: str,
    stored: bool,
) -> None:
    box, client = sandbox
    box.add_fault(rule)
    response = await client.post(SEND, params=PARAMS)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert bool(box.messages(INSTANCE)) is stored
    assert box.requests()[-1].status == status


async def test_wawp_error_without_code_has_no_code(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="wawp_error", status=418))
    response = await client.post(SEND, params=PARAMS)
    assert response.status_code == 418
    assert "code" not in response.json()


@pytest.mark.parametrize(
    ("retry_after_s", "header"), [(2.0, "2"), (0.2, "1"), (1.5, "2"), (None, None)]
)
async def test_rate_limited_retry_after_is_whole_seconds_rounded_up(
    sandbox: tuple[Sandbox, httpx.AsyncClient], retry_after_s: float | None, header: str | None
) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="rate_limited", retry_after_s=retry_after_s))
    response = await client.post(SEND, params=PARAMS)
    assert response.headers.get("retry-after") == header


async def test_quota_text_is_a_200_without_a_message(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="quota_text"))
    response = await client.post(SEND, params=PARAMS)
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "The number of messages you have sent per month has exceeded the maximum limit",
    }
    assert box.messages(INSTANCE) == []


async def test_queued_is_a_200_and_always_stores(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="queued", store=False))
    response = await client.post(SEND, params=PARAMS)
    assert (response.status_code, response.json()) == (200, {"sent": True, "upstream_status": 201})
    assert len(box.messages(INSTANCE)) == 1


async def test_times_applies_to_the_next_n_requests_only(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="unavailable", times=2))
    statuses = [(await client.post(SEND, params=PARAMS)).status_code for _ in range(4)]
    assert statuses == [503, 503, 201, 201]
    assert box.faults.rules() == []


async def test_rules_match_instance_and_action_in_order(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    box.add_instance("OTHER0000001", TOKEN)
    box.add_fault(FaultRule(kind="unavailable", instance_id="OTHER0000001"))
    box.add_fault(FaultRule(kind="rate_limited", action="getSessionInfo"))
    box.add_fault(FaultRule(kind="wawp_error", status=500, code="first"))
    box.add_fault(FaultRule(kind="wawp_error", status=500, code="second"))

    other = await client.post(SEND, params={**PARAMS, "instance_id": "OTHER0000001"})
    info = await client.get(
        "/v2/session/info", params={"instance_id": INSTANCE, "access_token": TOKEN}
    )
    send = await client.post(SEND, params=PARAMS)

    assert (other.status_code, info.status_code, send.json()["code"]) == (503, 429, "first")


async def test_probability_is_seeded_and_reproducible() -> None:
    async def outcomes() -> list[bool]:
        box = Sandbox(SandboxConfig(seed=42))
        box.add_fault(FaultRule(kind="unavailable", probability=0.5))
        return [box.faults.take(INSTANCE, "sendText") is not None for _ in range(200)]

    first, second = await outcomes(), await outcomes()
    assert first == second
    assert 60 < sum(first) < 140


async def test_probability_over_http(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="unavailable", probability=0.5))
    statuses = {(await client.post(SEND, params=PARAMS)).status_code for _ in range(40)}
    assert statuses == {201, 503}


async def test_latency_rule_and_global_latency_delay_the_answer(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="latency", latency_ms=150, times=1))
    started = time.monotonic()
    slow = await client.post(SEND, params=PARAMS)
    slow_s = time.monotonic() - started
    assert slow.status_code == 201
    assert slow_s >= 0.15

    box.config.latency_ms = 100
    try:
        started = time.monotonic()
        await client.get(
            "/v2/session/info", params={"instance_id": INSTANCE, "access_token": TOKEN}
        )
        assert time.monotonic() - started >= 0.1
    finally:
        box.config.latency_ms = 0


async def test_disconnect_drops_the_connection_without_an_answer(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    """httpx and aiohttp both see the server go away; the message was stored (default)."""
    box, client = sandbox
    box.add_fault(FaultRule(kind="disconnect", times=2))

    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(SEND, params=PARAMS)
    async with aiohttp.ClientSession(str(client.base_url)) as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await session.post(SEND, params=PARAMS)

    assert len(box.messages(INSTANCE)) == 2
    assert [r.status for r in box.requests()] == [None, None]
    assert (await client.post(SEND, params=PARAMS)).status_code == 201


async def test_disconnect_without_store(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="disconnect", store=False))
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(SEND, params=PARAMS)
    assert box.messages(INSTANCE) == []


async def test_hang_never_answers(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="hang", times=1))
    with pytest.raises(httpx.ReadTimeout):
        await client.post(SEND, params=PARAMS, timeout=0.3)
    assert len(box.messages(INSTANCE)) == 1
    assert box.requests()[-1].status is None
    assert (await client.post(SEND, params=PARAMS)).status_code == 201


async def test_hang_without_store(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    box, client = sandbox
    box.add_fault(FaultRule(kind="hang", store=False, times=1))
    async with aiohttp.ClientSession(str(client.base_url)) as session:
        with pytest.raises(TimeoutError):
            await session.post(SEND, params=PARAMS, timeout=aiohttp.ClientTimeout(total=0.3))
    assert box.messages(INSTANCE) == []


async def test_faults_over_the_admin_api(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    _box, client = sandbox
    added = await client.post(
        "/_sandbox/faults", json={"kind": "rate_limited", "retry_after_s": 3, "times": 1}
    )
    assert added.status_code == 201
    limited = await client.post(SEND, params=PARAMS)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    await client.post("/_sandbox/faults", json={"kind": "unavailable"})
    assert (await client.delete("/_sandbox/faults")).status_code == 200
    assert (await client.post(SEND, params=PARAMS)).status_code == 201
    bad = await client.post("/_sandbox/faults", json={"kind": "explode"})
    assert bad.status_code == 400


async def test_disconnect_outside_the_sandbox_server_raises_in_the_client() -> None:
    """Under a plain ASGI transport there is no socket to drop: the client gets an exception."""
    box = Sandbox(SandboxConfig(instances={INSTANCE: TOKEN}))
    box.add_fault(FaultRule(kind="disconnect"))
    transport = httpx.ASGITransport(app=create_app(box))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        with pytest.raises(ConnectionAbortedError):
            await client.post(SEND, params=PARAMS)
    assert box.requests()[-1].status is None
