"""Serving: ports, cancellation, the admin API's instances and messages, and throughput basics."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import MutableMapping

import httpx
import pytest

from wawp_gateway.sandbox import (
    Sandbox,
    SandboxConfig,
    SandboxPortInUseError,
    running_sandbox,
    serve,
)
from wawp_gateway.sandbox.app import create_app
from wawp_gateway.sandbox.asgi import RECEIVED_AT_KEY

INSTANCE = "ABC123DEF456"
TOKEN = "tok-server"


async def test_a_taken_port_is_a_clear_error() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        async with asyncio.timeout(5):
            with pytest.raises(SandboxPortInUseError, match=f"127.0.0.1:{port} is already in use"):
                await serve(Sandbox(), "127.0.0.1", port)
    finally:
        taken.close()


async def test_serve_signals_ready_and_stops_on_cancel() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(Sandbox(), "127.0.0.1", port, ready=ready))
    async with asyncio.timeout(5):
        await ready.wait()
    async with httpx.AsyncClient() as client:
        health = await client.get(f"http://127.0.0.1:{port}/_sandbox/healthz")
    assert health.json()["status"] == "ok"

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/_sandbox/healthz")


async def test_admin_instances_and_messages() -> None:
    box = Sandbox()
    async with running_sandbox(box) as url, httpx.AsyncClient(base_url=url) as client:
        created = await client.post(
            "/_sandbox/instances",
            json={"instance_id": INSTANCE, "token": TOKEN, "status": "WORKING", "engine": "GOWS"},
        )
        assert created.status_code == 201
        assert TOKEN not in created.text
        view = (await client.get(f"/_sandbox/instances/{INSTANCE}")).json()
        assert (view["status"], view["engine"]) == ("WORKING", "GOWS")
        assert (await client.get("/_sandbox/instances/NOPE")).status_code == 404

        auth = {"instance_id": INSTANCE, "access_token": TOKEN}
        for chat in ("1@c.us", "2@c.us"):
            await client.post("/v2/send/text", params={**auth, "chatId": chat, "message": chat})
        everything = (
            await client.get("/_sandbox/messages", params={"instance_id": INSTANCE})
        ).json()
        one = (
            await client.get(
                "/_sandbox/messages", params={"instance_id": INSTANCE, "chat_id": "2@c.us"}
            )
        ).json()
        assert [m["body"] for m in everything] == ["1@c.us", "2@c.us"]
        assert [(m["body"], m["action"]) for m in one] == [("2@c.us", "sendText")]

        moved = await client.put(
            f"/_sandbox/instances/{INSTANCE}/status", json={"status": "STOPPED"}
        )
        assert moved.json()["status"] == "STOPPED"
        bad = await client.post("/_sandbox/instances", json={"instance_id": INSTANCE})
        assert bad.status_code == 400
        assert (await client.get("/_sandbox/nothing")).status_code == 404
    assert box.requests(action="sendText")[0].token_valid


async def test_concurrent_sends_are_all_stored_once() -> None:
    box = Sandbox(SandboxConfig(instances={INSTANCE: TOKEN}))
    params = {"instance_id": INSTANCE, "access_token": TOKEN, "chatId": "1@c.us", "message": "x"}
    async with running_sandbox(box) as url, httpx.AsyncClient(base_url=url) as client:
        answers = await asyncio.gather(
            *(client.post("/v2/send/text", params=params) for _ in range(200))
        )
    ids = {a.json()["id"]["_serialized"] for a in answers}
    assert len(ids) == 200 == len(box.messages(INSTANCE)) == len(box.requests())


async def test_a_request_is_logged_at_the_time_the_server_began_reading_it() -> None:
    """Not when its handler ran: a request that waited for a busy loop keeps its arrival time."""
    box = Sandbox(SandboxConfig(instances={INSTANCE: TOKEN}))
    app = create_app(box)
    received_at = time.time() - 5.0  # as if the handler ran 5 s after the bytes were read
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v2/send/text",
        "raw_path": b"/v2/send/text",
        "query_string": (
            f"instance_id={INSTANCE}&access_token={TOKEN}&chatId=1@c.us&message=hi".encode()
        ),
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "extensions": {RECEIVED_AT_KEY: received_at},
    }
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, object]) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)

    assert sent[0]["status"] == 201
    (record,) = box.requests(action="sendText")
    assert record.at == received_at


async def test_the_server_stamps_each_request_as_its_bytes_are_read() -> None:
    box = Sandbox(SandboxConfig(instances={INSTANCE: TOKEN}))
    auth = {"instance_id": INSTANCE, "access_token": TOKEN}
    async with running_sandbox(box) as url, httpx.AsyncClient(base_url=url) as client:
        stamps = []
        for chat in ("1@c.us", "2@c.us"):
            params = {**auth, "chatId": chat, "message": chat}
            before = time.time()
            answer = await client.post("/v2/send/text", params=params)
            stamps.append((before, time.time()))
            assert answer.status_code == 201
    records = box.requests(action="sendText")
    assert [
        before <= r.at <= after for r, (before, after) in zip(records, stamps, strict=True)
    ] == [True] * 2
