"""The webhook receiver's ASGI app: Wawp's callbacks -> the events topic, answered.

``POST /webhooks/wawp[/{instance_id}]``: authenticated (query ``secret`` and/or
``X-Webhook-Hmac``), bounded, published byte for byte and answered 200 only once the broker
acknowledged it; re-deliveries of an ``id`` within the window are answered without publishing
again. A ``session.status`` event also writes the instance's status to the sessions topic, and
is answered 200 only once both records were acknowledged. ``/metrics``, ``/healthz`` and
``/readyz`` are served on the same port.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka.errors import KafkaError

from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.probes import metrics_payload
from wawp_gateway.core.sections import WebhookSettings
from wawp_gateway.webhook.checks import (
    SESSION_STATUS_EVENT,
    Outcome,
    Refused,
    WebhookEvent,
    is_authentic,
    parse_event,
    query_value,
)
from wawp_gateway.webhook.dedupe import Deadlines, DedupeWindow
from wawp_gateway.webhook.publisher import Publish, PublishFailed
from wawp_gateway.webhook.sessions import session_record

__all__ = ["WebhookReceiver"]

log = structlog.get_logger(__name__)

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]

_PREFIX = "/webhooks/wawp"
_PROBES = ("/metrics", "/healthz", "/readyz")


class WebhookReceiver:
    """The ASGI app. One instance holds the de-duplication window of its process."""

    def __init__(
        self,
        settings: WebhookSettings,
        topic: str,
        publish: Publish,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        reach_broker: Callable[[], Awaitable[bool]] | None = None,
        sessions_topic: str | None = None,
    ) -> None:
        """``reach_broker``: asked by /readyz after a failed publish, so that readiness comes back
        with the broker even when no traffic arrives (an unready pod gets none).
        ``sessions_topic``: where ``session.status`` events write the instance's status (None:
        nowhere)."""
        self._settings = settings
        self._topic = topic
        self._sessions_topic = sessions_topic
        self._reach_broker = reach_broker
        self._publish = publish
        self._metrics = metrics
        self._window = DedupeWindow(
            settings.dedupe_window_s,
            clock,
            max_keys=settings.dedupe_max_ids,
            on_evict=metrics.webhook_dedupe_evicted.inc,
        )
        metrics.webhook_dedupe_ids.set_function(lambda: len(self._window))
        self._deadlines = Deadlines(settings.publish_timeout_s)
        self._pending: dict[str, asyncio.Future[None]] = {}
        self.ready = True

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path in _PROBES:
            await self._probe(path, scope["method"], send, _accept(scope))
            return
        try:
            status, outcome = await self._handle(scope, receive)
        except Refused as refused:
            status, outcome = refused.status, refused.outcome
            if refused.status != 404:
                log.info("webhook.refused", outcome=outcome, reason=refused.message)
        self._metrics.webhook_requests_of(outcome).inc()
        start, body = _answer(status, outcome)
        await send(start)
        await send(body)

    async def _handle(self, scope: _Scope, receive: _Receive) -> tuple[int, Outcome]:
        path_instance = _route(scope["path"])
        if scope["method"] != "POST":
            raise Refused(405, "method_not_allowed", "only POST")
        length = signature = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"x-webhook-hmac":
                signature = value
        limit = self._settings.max_body_bytes
        if length is not None and length.strip().isdigit() and int(length) > limit:
            raise Refused(413, "too_large", f"body above {limit} bytes")
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body: bytes = message.get("body", b"")  # the usual case: one message
            if len(body) > limit:
                raise Refused(413, "too_large", f"body above {limit} bytes")
        else:
            body = await self._read_rest(message, receive)
        secret = query_value(scope.get("query_string", b""), b"secret")
        if not is_authentic(self._settings, secret, signature, body):
            raise Refused(401, "unauthorized", "wrong or missing secret or signature")
        return await self.deliver(parse_event(body, path_instance))

    async def _read_rest(self, message: _Message, receive: _Receive) -> bytes:
        """A body sent in several messages (or a client that went away)."""
        limit = self._settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            if message["type"] == "http.disconnect":
                raise Refused(400, "bad_request", "client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Refused(413, "too_large", f"body above {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
            message = await receive()

    async def deliver(self, event: WebhookEvent) -> tuple[int, Outcome]:
        """Publish once per (instance, id) within the window; 503 when the broker did not ack."""
        key: str | None = None
        if event.event_id is not None:
            # One string, not a tuple: the window holds many keys; strings are not GC-tracked.
            key = f"{event.instance}\x1f{event.event_id}"
            if key in self._window:
                return 200, "duplicate"
            pending = self._pending.get(key)
            if pending is not None:  # the first delivery is still publishing: share its answer
                await asyncio.wait([pending])
                if pending.cancelled() or pending.exception() is not None:
                    return 503, "unavailable"
                return 200, "duplicate"
        # Published here, not in a helper coroutine: one frame less to resume on every ack.
        instance = event.instance.encode()
        published = self._publish(self._topic, instance, event.body, event.headers)
        if event.event == SESSION_STATUS_EVENT and self._sessions_topic is not None:
            status = session_record(event, datetime.now(UTC))
            if status is not None:
                # Both acknowledged before the 200; either failing is a 503 and a re-delivery
                # (the event may then be published twice: events are at-least-once).
                published = _both(
                    published, self._publish(self._sessions_topic, instance, status, [])
                )
        ack = self._deadlines.watch(published)
        if key is not None:
            self._pending[key] = ack  # re-deliveries meanwhile wait for this one's answer
        try:
            await ack
        except (PublishFailed, KafkaError, TimeoutError) as exc:
            self.ready = False
            log.warning(
                "webhook.publish_failed",
                webhook_event=event.event,
                event_id=event.event_id,
                reason=str(exc) or type(exc).__name__,
            )
            return 503, "unavailable"
        finally:
            if key is not None:
                del self._pending[key]
        if key is not None:
            self._window.add(key)
        self.ready = True
        return 200, "published"

    async def _probe(self, path: str, method: str, send: _Send, accept: str) -> None:
        if method not in ("GET", "HEAD"):
            start, body = _answer(405, "method_not_allowed", allow=b"GET")
            await send(start)
            await send(body)
        elif path == "/metrics":
            payload, content_type = metrics_payload(self._metrics.registry, accept)
            headers = [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(payload)).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        else:
            if path == "/healthz":
                start, body = _answer(200, "ok")
            else:
                if not self.ready and self._reach_broker is not None:
                    self.ready = await self._reach_broker()
                start, body = _answer(503, "not_ready") if not self.ready else _answer(200, "ready")
            await send(start)
            await send(body)


def _both(first: asyncio.Future[None], second: asyncio.Future[None]) -> asyncio.Future[None]:
    """Done when both are, failed as soon as either fails (the other is left to finish)."""
    both: asyncio.Future[None] = first.get_loop().create_future()

    def settle(one: asyncio.Future[None]) -> None:
        if not one.cancelled():
            one.exception()  # retrieved, also when the answer is decided already
        if both.done():
            return
        for future in (first, second):  # both may be done by now: any failure wins
            if future.done() and future.cancelled():
                both.cancel()
                return
            if future.done() and (error := future.exception()) is not None:
                both.set_exception(error)
                return
        if first.done() and second.done():
            both.set_result(None)

    first.add_done_callback(settle)
    second.add_done_callback(settle)
    # A deadline that fails ``both`` leaves the records to the publisher (they may still land).
    return both


def _route(path: str) -> str | None:
    """The path's instance id (None for the bare path); Refused(404) for any other path."""
    if path == _PREFIX:
        return None
    rest = path.removeprefix(_PREFIX + "/")
    if rest != path and rest and "/" not in rest:
        return rest
    raise Refused(404, "not_found", "no such route")


@functools.cache
def _answer(status: int, text: str, allow: bytes = b"POST") -> tuple[_Message, _Message]:
    """The ASGI messages of a ``{"status": text}`` answer, built once per status and text (a
    handful): uvicorn only reads them. 405 names the allowed method."""
    body = json.dumps({"status": text}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 405:
        headers.append((b"allow", allow))
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


def _accept(scope: _Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"accept":
            return str(value.decode("latin-1"))
    return ""
