"""Webhooks posted to a real local receiver: order, envelopes, secret and HMAC, retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest_asyncio
from aiohttp import web
from structlog.testing import capture_logs

from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox

INSTANCE = "ABC123DEF456"
TOKEN = "tok-hooks"
CHAT = "447441429009@c.us"
AUTH = {"instance_id": INSTANCE, "access_token": TOKEN}
V1 = "/wp-json/awp/v1"


@dataclass
class Receiver:
    """A webhook endpoint that records what it got and can fail the first N posts."""

    url: str = ""
    posts: list[tuple[dict[str, str], dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        async with self.changed:
            if self.fail_next:
                self.fail_next -= 1
                self.changed.notify_all()
                return web.Response(status=500)
            self.posts.append((dict(request.query), dict(request.headers), raw))
            self.changed.notify_all()
        return web.Response(status=200)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for _, _, raw in self.posts]

    async def wait_until(
        self, predicate: Callable[[list[dict[str, Any]]], bool]
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(lambda: predicate(self.events()))
        return self.events()


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    rec.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    yield rec
    await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session")
async def server(receiver: Receiver) -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    config = SandboxConfig(
        instances={INSTANCE: TOKEN},
        webhook_url=receiver.url,
        webhook_secret="hook-secret",
        webhook_hmac_key="hmac-key",
        ack_delays_ms=(5, 10, 15),
        webhook_retry_s=0.01,
    )
    box = Sandbox(config)
    async with running_sandbox(box) as url, httpx.AsyncClient(base_url=url) as client:
        yield box, client


def _of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


async def test_sent_message_posts_message_any_then_acks_in_order(
    server: tuple[Sandbox, httpx.AsyncClient], receiver: Receiver
) -> None:
    box, client = server
    sent = await client.post(f"{V1}/send", params={**AUTH, "chatId": CHAT, "message": "hello"})
    message_id = sent.json()["id"]["_serialized"]

    events = await receiver.wait_until(lambda ev: len(_of(ev, "message.ack")) == 3)

    assert [e["event"] for e in events] == [
        "message.any",
        "message.ack",
        "message.ack",
        "message.ack",
    ]
    first = events[0]
    assert first["id"].startswith("evt_")
    assert len(first["id"]) == 30
    assert (first["session"], first["engine"], first["metadata"]) == (INSTANCE, "WEBJS", {})
    assert isinstance(first["timestamp"], int)
    assert set(first["me"]) >= {"id", "pushName"}
    assert first["payload"]["id"] == message_id
    assert first["payload"]["fromMe"] is True
    assert first["payload"]["body"] == "hello"
    acks = [e["payload"] for e in _of(events, "message.ack")]
    assert [(a["ack"], a["ackName"]) for a in acks] == [(1, "SERVER"), (2, "DEVICE"), (3, "READ")]
    assert all(
        a["id"] == message_id and a["chatId"] == CHAT and a["to"] == CHAT and a["fromMe"]
        for a in acks
    )
    assert len({e["id"] for e in events}) == 4
    assert box.messages(INSTANCE)[0].ack == 3


async def test_posts_carry_the_secret_and_a_valid_hmac(
    server: tuple[Sandbox, httpx.AsyncClient], receiver: Receiver
) -> None:
    _, client = server
    await client.post(f"{V1}/send", params={**AUTH, "chatId": CHAT, "message": "x"})
    await receiver.wait_until(lambda ev: len(ev) == 4)
    for query, headers, raw in receiver.posts:
        assert query == {"secret": "hook-secret"}
        expected = hmac.new(b"hmac-key", raw, hashlib.sha512).hexdigest()
        assert headers["X-Webhook-Hmac"] == expected
        assert headers["X-Webhook-Hmac-Algorithm"] == "sha512"


async def test_session_changes_post_session_status(
    server: tuple[Sandbox, httpx.AsyncClient], receiver: Receiver
) -> None:
    box, client = server
    await client.post(f"{V1}/session/stop", params=AUTH)
    await client.post(f"{V1}/session/start", params=AUTH)
    box.set_session_status(INSTANCE, "FAILED")

    events = await receiver.wait_until(lambda ev: len(_of(ev, "session.status")) == 4)

    statuses = [
        (e["payload"]["name"], e["payload"]["status"]) for e in _of(events, "session.status")
    ]
    assert statuses == [(INSTANCE, s) for s in ("STOPPED", "STARTING", "WORKING", "FAILED")]


async def test_every_session_action_posts_each_status_it_passes_through(
    server: tuple[Sandbox, httpx.AsyncClient], receiver: Receiver
) -> None:
    """A new session posts STOPPED; logout and restart post every status they go through."""
    _, client = server
    created = await client.post(f"{V1}/createSession", params={"access_token": TOKEN})
    new_id = created.json()["instance_id"]
    auth = {"instance_id": new_id, "access_token": TOKEN}
    for path in ("/session/start", "/session/logout", "/session/restart"):
        await client.post(V1 + path, params=auth)

    events = await receiver.wait_until(lambda ev: len(_of(ev, "session.status")) == 6)

    assert [e["payload"]["status"] for e in _of(events, "session.status")] == [
        "STOPPED",
        "STARTING",
        "WORKING",
        "SCAN_QR_CODE",
        "STARTING",
        "WORKING",
    ]
    assert {e["session"] for e in _of(events, "session.status")} == {new_id}


async def test_stop_at_a_level_or_error(
    server: tuple[Sandbox, httpx.AsyncClient], receiver: Receiver
) -> None:
    box, client = server
    box.add_instance(INSTANCE, TOKEN, final_ack=2)
    await client.post(f"{V1}/send", params={**AUTH, "chatId": CHAT, "message": "x"})
    box.add_instance(INSTANCE, TOKEN, final_ack=-1)
    await client.post(f"{V1}/send", params={**AUTH, "chatId": CHAT, "message": "y"})

    await receiver.wait_until(lambda ev: len(_of(ev, "message.ack")) == 3)
    await box.webhooks.drain()

    acks = [
        (e["payload"]["ack"], e["payload"]["ackName"])
        for e in _of(receiver.events(), "message.ack")
    ]
    assert sorted(acks) == [(-1, "ERROR"), (1, "SERVER"), (2, "DEVICE")]


async def test_failed_posts_are_retried(
    server: tuple[Sandbox, httpx.AsyncClient], receiver: Receiver
) -> None:
    box, client = server
    box.add_instance(INSTANCE, TOKEN, final_ack=0)
    receiver.fail_next = 2
    await client.post(f"{V1}/send", params={**AUTH, "chatId": CHAT, "message": "x"})
    events = await receiver.wait_until(lambda ev: len(ev) == 1)
    await box.webhooks.drain()
    assert events[0]["event"] == "message.any"
    assert (box.webhooks.delivered, box.webhooks.failed) == (1, 0)


async def test_unreachable_receiver_counts_failures_and_serves_on() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    box = Sandbox(
        SandboxConfig(
            instances={INSTANCE: TOKEN},
            webhook_url=f"http://127.0.0.1:{port}/",
            webhook_attempts=3,
            webhook_retry_s=0.01,
        )
    )
    box.add_instance(INSTANCE, TOKEN, final_ack=0)
    with capture_logs() as logs:
        async with running_sandbox(box) as url, httpx.AsyncClient(base_url=url) as client:
            response = await client.post(
                f"{V1}/send", params={**AUTH, "chatId": CHAT, "message": "x"}
            )
            await box.webhooks.drain()
            health = (await client.get("/_sandbox/healthz")).json()
    assert response.status_code == 201
    assert box.webhooks.failed == 1
    assert health == {
        "status": "ok",
        "webhooks": {"delivered": 0, "failed": 1, "dropped": 0, "retried": 2, "pending": 0},
    }
    failures = [line for line in logs if line["event"] == "webhook.delivery_failed"]
    assert failures == [
        {
            "event": "webhook.delivery_failed",
            "log_level": "warning",
            "webhook_event": "message.any",
            "event_id": failures[0]["event_id"],
            "reason": "ClientConnectorError",
            "attempts": 3,
        }
    ]


async def test_a_receiver_that_recovers_gets_every_webhook(
    server: tuple[Sandbox, httpx.AsyncClient], receiver: Receiver
) -> None:
    """Down for several attempts (503), then up: every event arrives, in order, none is lost,
    and no task dies with an exception."""
    box, client = server
    box.add_instance(INSTANCE, TOKEN, final_ack=3)
    receiver.fail_next = 4
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        with capture_logs() as logs:
            for text in ("a", "b"):
                await client.post(f"{V1}/send", params={**AUTH, "chatId": CHAT, "message": text})
            events = await receiver.wait_until(lambda ev: len(ev) == 8)
            await box.webhooks.drain()
    finally:
        loop.set_exception_handler(previous)
    assert sorted(e["event"] for e in events) == ["message.ack"] * 6 + ["message.any"] * 2
    counts = box.webhooks.counts()
    assert (counts["delivered"], counts["failed"], counts["dropped"]) == (8, 0, 0)
    assert counts["retried"] >= 4
    assert errors == []
    assert [line for line in logs if line["log_level"] in ("warning", "error")] == []


async def test_deliveries_past_the_bound_are_dropped_and_counted() -> None:
    box = Sandbox(
        SandboxConfig(
            instances={INSTANCE: TOKEN},
            webhook_url="http://127.0.0.1:9/",
            webhook_max_pending=2,
            webhook_attempts=1,
        )
    )
    box.add_instance(INSTANCE, TOKEN, final_ack=3)
    async with running_sandbox(box) as url, httpx.AsyncClient(base_url=url) as client:
        await client.post(f"{V1}/send", params={**AUTH, "chatId": CHAT, "message": "x"})
        await box.webhooks.drain()
    assert box.webhooks.dropped == 4  # message.any and three acks: more than two at once


async def test_webhook_set_over_the_admin_api(
    server: tuple[Sandbox, httpx.AsyncClient], receiver: Receiver
) -> None:
    box, client = server
    answer = await client.post(
        "/_sandbox/webhook", json={"url": receiver.url, "secret": "other", "hmac_key": None}
    )
    assert answer.json() == {"url": receiver.url}
    box.set_session_status(INSTANCE, "STOPPED")
    await receiver.wait_until(lambda ev: len(ev) == 1)
    query, headers, _ = receiver.posts[0]
    assert query == {"secret": "other"}
    assert "X-Webhook-Hmac" not in headers
