"""Requests the sandbox is holding right now (received, not answered), and arrival order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlencode, urlsplit

import httpx
import pytest_asyncio

from wawp_gateway.sandbox import FaultRule, HeldRequest, Sandbox, SandboxConfig, running_sandbox

INSTANCE = "ABC123DEF456"
OTHER = "OTHER0000001"
TOKEN = "tok-inflight-very-secret"
CHAT = "447441429009@c.us"
DEADLINE_S = 5.0


@pytest_asyncio.fixture(loop_scope="session")
async def served() -> AsyncIterator[tuple[Sandbox, str]]:
    box = Sandbox(SandboxConfig(instances={INSTANCE: TOKEN, OTHER: TOKEN}))
    async with running_sandbox(box) as url:
        yield box, url


class _RawClient:
    """One TCP connection with a known local port, so a test can drop it mid-request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.port: int = writer.get_extra_info("sockname")[1]

    @classmethod
    async def connect(cls, url: str) -> _RawClient:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def send_text(self, message: str, instance_id: str = INSTANCE) -> None:
        query = urlencode(
            {"instance_id": instance_id, "access_token": TOKEN, "chatId": CHAT, "message": message}
        )
        self.writer.write(
            f"POST /wp-json/awp/v1/send?{query} HTTP/1.1\r\nHost: sandbox\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )
        await self.writer.drain()

    async def status(self) -> int:
        line = await self.reader.readline()
        return int(line.split()[1])

    def drop(self) -> None:
        self.writer.transport.abort()


async def _until(box: Sandbox, done: Callable[[list[HeldRequest]], bool]) -> list[HeldRequest]:
    async with asyncio.timeout(DEADLINE_S):
        while not done(held := box.held_requests()):
            await box.inflight.changed()
    return held


async def test_a_request_is_held_with_its_client_port_until_answered(
    served: tuple[Sandbox, str],
) -> None:
    """While its latency runs a request is held, with the client's TCP port; then it is not."""
    box, url = served
    box.add_fault(FaultRule(kind="latency", latency_ms=100, times=1))
    client = await _RawClient.connect(url)
    try:
        await client.send_text("held")

        (held,) = await _until(box, bool)

        assert held.client == ("127.0.0.1", client.port)
        assert (held.method, held.action, held.instance_id) == ("POST", "sendText", INSTANCE)
        assert box.inflight.arrived == held.arrival == 1
        assert await client.status() == 201
        await _until(box, lambda held: not held)
        (record,) = box.requests()
        assert (record.arrival, record.client) == (held.arrival, held.client)
    finally:
        client.drop()


async def test_a_request_whose_client_died_is_still_executed_and_logged(
    served: tuple[Sandbox, str],
) -> None:
    """A client killed mid-call (kill -9 of a worker): Wawp acted, the log shows one request."""
    box, url = served
    box.add_fault(FaultRule(kind="latency", latency_ms=100, times=1))
    client = await _RawClient.connect(url)
    await client.send_text("orphan")
    await _until(box, bool)

    client.drop()
    await _until(box, lambda held: not held)

    (record,) = box.requests()
    assert (record.status, record.client) == (201, ("127.0.0.1", client.port))
    assert [m.body for m in box.messages(INSTANCE)] == ["orphan"]


async def test_a_hanging_request_is_held_until_the_client_leaves(
    served: tuple[Sandbox, str],
) -> None:
    box, url = served
    box.add_fault(FaultRule(kind="hang", times=1))
    client = await _RawClient.connect(url)
    await client.send_text("hung")
    (held,) = await _until(box, bool)
    assert held.client == ("127.0.0.1", client.port)
    assert [r.status for r in box.requests()] == [None]  # logged when the hang began

    client.drop()

    await _until(box, lambda held: not held)


async def test_arrival_orders_by_receipt_and_seq_by_answer(served: tuple[Sandbox, str]) -> None:
    """A slow first request is answered after a fast second one: seq swaps, arrival does not."""
    box, url = served
    box.add_fault(FaultRule(kind="latency", latency_ms=200, times=1))
    slow, fast = await _RawClient.connect(url), await _RawClient.connect(url)
    try:
        await slow.send_text("first")
        await _until(box, bool)
        await fast.send_text("second")
        assert await fast.status() == 201
        assert await slow.status() == 201
    finally:
        slow.drop()
        fast.drop()

    records = box.requests()
    assert [r.query[-1][1] for r in records] == ["second", "first"]
    assert records[0].seq < records[1].seq
    assert records[0].arrival > records[1].arrival
    assert [r.client for r in records] == [("127.0.0.1", fast.port), ("127.0.0.1", slow.port)]


async def test_admin_lists_held_requests_without_tokens(served: tuple[Sandbox, str]) -> None:
    box, url = served
    box.add_fault(FaultRule(kind="hang", times=2))
    ours, theirs = await _RawClient.connect(url), await _RawClient.connect(url)
    try:
        await ours.send_text("a")
        await theirs.send_text("b", instance_id=OTHER)
        await _until(box, lambda held: len(held) == 2)
        async with httpx.AsyncClient(base_url=url) as admin:
            everything = await admin.get("/_sandbox/held")
            mine = await admin.get("/_sandbox/held", params={"instance_id": INSTANCE})
    finally:
        ours.drop()
        theirs.drop()
    await _until(box, lambda held: not held)

    assert everything.status_code == 200
    assert TOKEN not in everything.text
    assert [r["client"] for r in everything.json()] == [
        ["127.0.0.1", ours.port],
        ["127.0.0.1", theirs.port],
    ]
    (row,) = mine.json()
    assert (row["action"], row["instance_id"], row["method"]) == ("sendText", INSTANCE, "POST")
    assert row["path"] == "/wp-json/awp/v1/send"
    assert [r.to_json()["client"] for r in box.requests()] == [
        ["127.0.0.1", ours.port],
        ["127.0.0.1", theirs.port],
    ]


def test_latency_jitter_is_drawn_per_request_within_bounds_and_seeded() -> None:
    config = SandboxConfig(latency_ms=20, latency_jitter_ms=30, seed=7)
    draws = [Sandbox(config).draw_latency_ms() for _ in range(2)]
    box = Sandbox(config)
    many = [box.draw_latency_ms() for _ in range(200)]

    assert draws[0] == draws[1] == many[0]
    assert all(20 <= d <= 50 for d in many)
    assert len(set(many)) > 100
    assert Sandbox(SandboxConfig(latency_ms=5)).draw_latency_ms() == 5
