"""The few raw-ASGI helpers the sandbox needs (no framework: it must stay fast)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .replies import Reply

__all__ = [
    "RECEIVED_AT_KEY",
    "TRANSPORT_KEY",
    "ASGIApp",
    "Receive",
    "Scope",
    "Send",
    "read_body",
    "send_reply",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# scope["extensions"][TRANSPORT_KEY] is the connection's asyncio transport when the sandbox runs
# under its own server (server.py): the only way to drop a connection without any answer.
TRANSPORT_KEY = "wawp_sandbox.transport"
# scope["extensions"][RECEIVED_AT_KEY]: when the server began reading the request (time.time()),
# the time the request log gives it. Taken when the handler runs instead, a request that waits
# for a busy loop is logged late, and calls that left a client paced exactly at a rate limit
# read as closer together than they were.
RECEIVED_AT_KEY = "wawp_sandbox.received_at"
_JSON = (b"content-type", b"application/json; charset=UTF-8")


async def read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body, and whether the client went away while sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


async def send_reply(send: Send, reply: Reply) -> None:
    payload = reply.encode()
    headers = [_JSON, (b"content-length", str(len(payload)).encode()), *reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
