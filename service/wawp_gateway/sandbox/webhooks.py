"""Webhook deliveries: envelopes as in `wawp/webhooks.json`, signed, posted in the background.

A post that fails (no connection, a timeout, 429 or 5xx) is retried as Wawp's engines do: a
bounded number of attempts with exponential back-off. Posts waiting to go out are bounded too:
past ``RetryPolicy.max_pending`` scheduled deliveries, new ones are dropped and counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from .state import Instance, StoredMessage

__all__ = [
    "ACK_NAMES",
    "EventBuilder",
    "RetryPolicy",
    "WebhookDispatcher",
    "WebhookTarget",
    "ack_steps",
    "new_event_id",
]

log = structlog.get_logger(__name__)

ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
# Envelopes are built when due, so their timestamp is the post time.
EventBuilder = Callable[[], dict[str, Any]]
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_CONNECTIONS = 512  # posts in flight at once, over keep-alive connections


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed posts are retried, and how many deliveries may wait at once.

    The default follows the webhook engines Wawp runs (15 attempts, exponential back-off from 2 s),
    capped so a receiver that recovers gets its backlog within a minute."""

    attempts: int = 15
    first_delay_s: float = 2.0
    max_delay_s: float = 60.0
    max_pending: int = 100_000

    def delay_s(self, attempt: int) -> float:
        """Seconds before attempt number ``attempt + 1`` (``attempt`` counts from 0)."""
        return min(self.first_delay_s * float(2**attempt), self.max_delay_s)


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where events go. `secret` travels as `?secret=`; `hmac_key` signs the raw body."""

    url: str
    secret: str | None = None
    hmac_key: str | None = None

    def __repr__(self) -> str:  # the secret and key must never reach a log line
        return f"WebhookTarget(url={self.url!r}, secret={'***' if self.secret else None})"


def new_event_id() -> str:
    """`evt_` + a lowercase ULID: 48 bits of milliseconds, 80 random bits, Crockford base32."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = [_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5)]
    return "evt_" + "".join(chars)


def envelope(instance: Instance, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_event_id(),
        "timestamp": int(time.time() * 1000),
        "session": instance.instance_id,
        "metadata": {},
        "engine": "GOWS" if instance.engine == "GOWS" else "WEBJS",
        "event": event,
        "payload": payload,
        "me": instance.me,
    }


def message_any_payload(message: StoredMessage) -> dict[str, Any]:
    return {
        "id": message.serialized_id,
        "timestamp": message.timestamp,
        "from": message.sender,
        "fromMe": True,
        "source": "api",
        "to": message.chat_id,
        "participant": None,
        "body": message.body,
        "hasMedia": message.type in {"image", "document", "ptt", "video"},
        "media": None,
        "ack": 1,
        "ackName": "SERVER",
        "author": None,
        "location": None,
        "vCards": [],
        "replyTo": None,
        "_data": {},
    }


def ack_payload(message: StoredMessage, ack: int) -> dict[str, Any]:
    return {
        "id": message.serialized_id,
        "ack": ack,
        "ackName": ACK_NAMES[ack],
        "chatId": message.chat_id,
        "from": message.sender,
        "to": message.chat_id,
        "fromMe": True,
    }


def ack_steps(final_ack: int, delays_ms: Sequence[float]) -> list[tuple[float, int]]:
    """(delay since the send in ms, ack level) pairs for one message."""
    if final_ack < 0:
        return [(delays_ms[0], -1)]
    return [(delays_ms[level - 1], level) for level in range(1, min(final_ack, 3) + 1)]


class WebhookDispatcher:
    """Posts events from background tasks over one shared aiohttp session.

    Each `emit` is one task posting its events in order; tasks with the same `lane` (an
    instance's session events) also run one after the other, so STARTING never overtakes WORKING.
    """

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self.target: WebhookTarget | None = None
        self.retry = retry or RetryPolicy()
        self.delivered = 0
        self.failed = 0  # gave up after the last attempt, or refused (4xx)
        self.retried = 0  # attempts after the first
        self.dropped = 0  # never attempted: too many deliveries were waiting
        self._pending = 0  # posts scheduled and not yet delivered or given up
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lanes: dict[str, asyncio.Task[None]] = {}

    def counts(self) -> dict[str, int]:
        """Deliveries so far: ``delivered / (delivered + failed + dropped)`` is the success."""
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "retried": self.retried,
            "pending": self._pending,
        }

    def emit(self, steps: list[tuple[float, EventBuilder]], *, lane: str | None = None) -> None:
        """Schedule `(delay since now in seconds, envelope)` posts; no-op without a target."""
        target = self.target
        if target is None or not steps:
            return
        if self._pending + len(steps) > self.retry.max_pending:
            self.dropped += len(steps)
            log.warning("webhook.dropped", events=len(steps), pending=self._pending)
            return
        self._pending += len(steps)
        previous = self._lanes.get(lane) if lane is not None else None
        task = asyncio.get_running_loop().create_task(self._run(target, steps, previous))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if lane is not None:
            self._lanes[lane] = task
            task.add_done_callback(lambda t: self._drop_lane(lane, t))

    def _drop_lane(self, lane: str, task: asyncio.Task[None]) -> None:
        if self._lanes.get(lane) is task:
            del self._lanes[lane]

    async def _run(
        self,
        target: WebhookTarget,
        steps: list[tuple[float, EventBuilder]],
        previous: asyncio.Task[None] | None,
    ) -> None:
        left = len(steps)
        try:
            if previous is not None:
                await asyncio.wait([previous])
            loop = asyncio.get_running_loop()
            start = loop.time()
            for delay_s, build in steps:
                wait = start + delay_s - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._post(target, build())
                left -= 1
                self._pending -= 1
        finally:
            self._pending -= left  # cancelled (shutdown): they no longer wait

    async def _post(self, target: WebhookTarget, body: dict[str, Any]) -> None:
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Webhook-Request-Id": body["id"]}
        if target.hmac_key:
            digest = hmac.new(target.hmac_key.encode(), raw, hashlib.sha512).hexdigest()
            headers["X-Webhook-Hmac"] = digest
            headers["X-Webhook-Hmac-Algorithm"] = "sha512"
        params = {"secret": target.secret} if target.secret else None
        session = self._client()
        retry = self.retry
        reason = ""
        for attempt in range(retry.attempts):
            if attempt:
                self.retried += 1
                await asyncio.sleep(retry.delay_s(attempt - 1))
            try:
                async with session.post(target.url, data=raw, headers=headers, params=params) as r:
                    if r.status < 300:
                        self.delivered += 1
                        return
                    reason = f"http_{r.status}"
                    if r.status < 500 and r.status != 429:
                        break  # the receiver refused it (auth, shape): a retry won't help
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                reason = type(exc).__name__
        self.failed += 1
        # structlog's first argument is the log event, so the webhook's is `webhook_event`; only
        # its name and id are logged: the URL may carry the secret.
        log.warning(
            "webhook.delivery_failed",
            webhook_event=body["event"],
            event_id=body["id"],
            reason=reason,
            attempts=attempt + 1,
        )

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Per request, not per wait: a post queued for one of the session's connections must
            # not time out before it was sent (a total timeout turned a slow receiver into
            # timeouts, retries and a bigger queue).
            timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=5, sock_read=10)
            # aiohttp's default pool (100 connections) capped deliveries at 100 / the receiver's
            # answer time: ~1,100 posts/s when the receiver's broker acknowledged in ~90 ms.
            connector = aiohttp.TCPConnector(limit=_CONNECTIONS)
            self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        return self._session

    async def drain(self) -> None:
        """Wait for every scheduled post (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        if self._session is not None:
            await self._session.close()
            self._session = None
