"""WebhookReceiver as an ASGI app over a fake publisher: routes, limits, shape, de-duplication."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.sections import WebhookSettings
from wawp_gateway.webhook.app import WebhookReceiver
from wawp_gateway.webhook.checks import query_value
from wawp_gateway.webhook.publisher import PublishFailed

TOPIC = "t.events"
SECRET = "s3cret"


class FakePublisher:
    """Records what is published; ``gate`` holds publishes, ``fail`` makes them fail."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
        self.gate: asyncio.Event | None = None
        self.fail = False
        self.hang = False
        self.calls = 0
        self.entered = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    def __call__(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[None]:
        """A plain future, as KafkaPublisher returns (the receiver's deadline may fail it)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._publish(topic, key, value, headers))
        self.tasks.add(task)

        def settle(finished: asyncio.Task[None]) -> None:
            self.tasks.discard(finished)
            if done.done():
                return
            if (error := finished.exception()) is not None:
                done.set_exception(error)
            else:
                done.set_result(None)

        task.add_done_callback(settle)
        return done

    async def _publish(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.hang:
            await asyncio.Event().wait()
        if self.fail:
            raise PublishFailed("KafkaConnectionError")
        self.records.append((topic, key, value, headers))


class Response:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.body = b""


def _receiver(publisher: FakePublisher, **values: Any) -> tuple[WebhookReceiver, CollectorRegistry]:
    registry = CollectorRegistry()
    settings = WebhookSettings.model_validate({"secret": SecretStr(SECRET), **values})
    return WebhookReceiver(settings, TOPIC, publisher, Metrics(registry)), registry


async def call(
    app: WebhookReceiver,
    body: bytes | list[bytes] = b"",
    *,
    path: str = "/webhooks/wawp",
    method: str = "POST",
    query: bytes = b"secret=" + SECRET.encode(),
    headers: list[tuple[bytes, bytes]] | None = None,
    content_length: bool = True,
) -> Response:
    chunks = [body] if isinstance(body, bytes) else list(body)
    sent: list[dict[str, Any]] = []
    all_headers = list(headers or [])
    if content_length:
        all_headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": all_headers,
    }

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    response = Response()
    response.status = sent[0]["status"]
    response.headers = dict(sent[0]["headers"])
    response.body = b"".join(m.get("body", b"") for m in sent[1:])
    return response


def envelope(event_id: str | None = "evt_1", session: str | None = "INST1", **extra: Any) -> bytes:
    data: dict[str, Any] = {"event": "message", "payload": {"body": "hi"}, **extra}
    if event_id is not None:
        data["id"] = event_id
    if session is not None:
        data["session"] = session
    return json.dumps(data).encode()


def outcome(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value("gateway_webhook_requests_total", {"outcome": name})
    return value or 0.0


async def test_event_is_published_unchanged_with_key_and_headers() -> None:
    """The body goes out byte for byte, keyed by session, with the three headers."""
    publisher = FakePublisher()
    app, registry = _receiver(publisher)
    body = b'{"event": "message.ack",  "id":"evt_9", "session":"INST1", "x": [1, 2]}'
    response = await call(app, body)
    assert response.status == 200
    assert publisher.records == [
        (
            TOPIC,
            b"INST1",
            body,
            [
                ("wawp-event", b"message.ack"),
                ("wawp-event-id", b"evt_9"),
                ("wawp-instance", b"INST1"),
            ],
        )
    ]
    assert outcome(registry, "published") == 1


async def test_path_instance_is_the_key_and_event_id_header_is_optional() -> None:
    """`/webhooks/wawp/{id}` names the instance; a body without `id` has no event-id header."""
    publisher = FakePublisher()
    app, _ = _receiver(publisher)
    response = await call(app, envelope(event_id=None, session=None), path="/webhooks/wawp/ABC")
    assert response.status == 200
    _, key, _, headers = publisher.records[0]
    assert key == b"ABC"
    assert headers == [("wawp-event", b"message"), ("wawp-instance", b"ABC")]


async def test_unknown_event_types_pass_through() -> None:
    """An event name absent from the catalog is published like any other."""
    publisher = FakePublisher()
    app, _ = _receiver(publisher)
    response = await call(app, json.dumps({"event": "brand.new", "session": "I"}).encode())
    assert response.status == 200
    assert len(publisher.records) == 1


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/webhooks", "POST", 404),
        ("/webhooks/wawp/", "POST", 404),
        ("/webhooks/wawp/a/b", "POST", 404),
        ("/other", "GET", 404),
        ("/webhooks/wawp", "GET", 405),
        ("/webhooks/wawp/ABC", "PUT", 405),
        ("/metrics", "POST", 405),
    ],
)
async def test_other_paths_and_methods_are_refused(path: str, method: str, status: int) -> None:
    """Only POST on the two webhook paths publishes; the rest is 404 or 405."""
    publisher = FakePublisher()
    app, _ = _receiver(publisher)
    response = await call(app, envelope(), path=path, method=method)
    assert response.status == status
    if status == 405:
        assert b"allow" in response.headers
    assert publisher.calls == 0


async def test_wrong_secret_or_signature_is_401() -> None:
    """A wrong secret, or a missing HMAC header when a key is set, publishes nothing."""
    publisher = FakePublisher()
    app, registry = _receiver(publisher, hmac_key=SecretStr("k"))
    body = envelope()
    signature = hmac.new(b"k", body, hashlib.sha512).hexdigest().encode()
    assert (
        await call(app, body, query=b"secret=nope", headers=[(b"x-webhook-hmac", signature)])
    ).status == 401
    assert (await call(app, body)).status == 401
    assert (await call(app, body, headers=[(b"x-webhook-hmac", signature)])).status == 200
    assert outcome(registry, "unauthorized") == 2
    assert len(publisher.records) == 1


async def test_body_above_the_limit_is_413_by_header_or_by_count() -> None:
    """Content-Length above the limit, or more bytes than that streamed without it: 413."""
    publisher = FakePublisher()
    app, registry = _receiver(publisher, max_body_bytes=100)
    big = envelope(pad="x" * 200)
    assert (await call(app, big)).status == 413
    chunks = [big[:60], big[60:120], big[120:]]
    assert (await call(app, chunks, content_length=False)).status == 413
    assert (await call(app, [big[:10], big[10:40]], content_length=False)).status != 413
    assert outcome(registry, "too_large") == 2
    assert publisher.calls == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"message"',
        b'{"session": "I"}',
        b'{"event": 3, "session": "I"}',
        b'{"event": "", "session": "I"}',
        b'{"event": "message"}',
        b'{"event": "message", "session": 12}',
    ],
)
async def test_malformed_bodies_are_400(body: bytes) -> None:
    """Not a JSON object with a string event and an instance: 400, nothing published."""
    publisher = FakePublisher()
    app, _ = _receiver(publisher)
    assert (await call(app, body)).status == 400
    assert publisher.calls == 0


@pytest.mark.parametrize(
    "body",
    [
        envelope().decode().encode("utf-16"),  # with a BOM: json reads it, orjson does not
        envelope(extra_value=float("nan")),  # NaN: json reads it, orjson does not
        envelope(note="\ud83d lone surrogate"),
        envelope(big=2**80),
    ],
)
async def test_bodies_orjson_refuses_are_read_as_json_reads_them(body: bytes) -> None:
    """orjson is the fast path only: what ``json`` accepted is still published, byte for byte."""
    publisher = FakePublisher()
    app, _ = _receiver(publisher)
    assert (await call(app, body)).status == 200
    assert publisher.calls == 1


async def test_duplicate_id_is_published_once() -> None:
    """A re-delivery of the same (instance, id) is 200 and not published again."""
    publisher = FakePublisher()
    app, registry = _receiver(publisher)
    assert (await call(app, envelope())).status == 200
    assert (await call(app, envelope())).status == 200
    assert (await call(app, envelope(session="OTHER"))).status == 200
    assert len(publisher.records) == 2
    assert outcome(registry, "duplicate") == 1


async def test_bodies_without_id_are_not_deduplicated() -> None:
    """No id, no de-duplication: each delivery is published."""
    publisher = FakePublisher()
    app, _ = _receiver(publisher)
    for _ in range(3):
        assert (await call(app, envelope(event_id=None))).status == 200
    assert len(publisher.records) == 3


async def test_redelivery_during_a_pending_publish_shares_its_success() -> None:
    """Given a publish still waiting for its ack, a re-delivery waits and gets the same 200."""
    publisher = FakePublisher()
    publisher.gate = asyncio.Event()
    app, _ = _receiver(publisher)
    first = asyncio.create_task(call(app, envelope()))
    second = asyncio.create_task(call(app, envelope()))
    await asyncio.wait_for(publisher.entered.wait(), 5)
    assert not first.done()
    assert not second.done()
    publisher.gate.set()
    assert (await first).status == 200
    assert (await second).status == 200
    assert publisher.calls == 1
    assert len(publisher.records) == 1


async def test_failed_publish_is_503_for_everyone_waiting_and_not_remembered() -> None:
    """A publish that fails answers 503 to it and its waiting re-delivery; a retry publishes."""
    publisher = FakePublisher()
    publisher.gate = asyncio.Event()
    publisher.fail = True
    app, registry = _receiver(publisher)
    first = asyncio.create_task(call(app, envelope()))
    second = asyncio.create_task(call(app, envelope()))
    await asyncio.wait_for(publisher.entered.wait(), 5)
    publisher.gate.set()
    assert (await first).status == 503
    assert (await second).status == 503
    assert publisher.calls == 1
    assert not app.ready
    publisher.fail = False
    assert (await call(app, envelope())).status == 200
    assert len(publisher.records) == 1
    assert app.ready
    assert outcome(registry, "unavailable") == 2


async def test_unacknowledged_publish_times_out_with_503() -> None:
    """No ack within PUBLISH_TIMEOUT_S: 503, and the id stays out of the window."""
    publisher = FakePublisher()
    publisher.hang = True
    app, _ = _receiver(publisher, publish_timeout_s=0.05)
    assert (await call(app, envelope())).status == 503
    publisher.hang = False
    assert (await call(app, envelope())).status == 200
    assert len(publisher.records) == 1


async def test_probes_answer_on_the_same_app() -> None:
    """/healthz, /readyz and /metrics are served by the receiver."""
    publisher = FakePublisher()
    app, _ = _receiver(publisher)
    await call(app, envelope())
    assert (await call(app, path="/healthz", method="GET")).status == 200
    assert (await call(app, path="/readyz", method="GET")).status == 200
    metrics = await call(app, path="/metrics", method="GET")
    assert b'gateway_webhook_requests_total{outcome="published"} 1.0' in metrics.body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", None),
        (b"other=1", None),
        (b"secret=abc", b"abc"),
        (b"a=1&secret=x%2By+z&b=2", b"x+y z"),
        (b"secret=first&secret=second", b"first"),
        (b"secret", b""),
        (b"secret=", b""),
        (b"secre%74=encoded-name", b"encoded-name"),
        (b"secret=%ff%00raw", b"\xff\x00raw"),
        (b"&&secret=after-empty-pairs", b"after-empty-pairs"),
    ],
)
def test_query_value_decodes_like_parse_qs(query: bytes, expected: bytes | None) -> None:
    assert query_value(query, b"secret") == expected


async def test_secret_is_read_percent_decoded_from_the_query() -> None:
    publisher = FakePublisher()
    app, _ = _receiver(publisher, secret=SecretStr("a+b c&d"))
    response = await call(app, envelope(), query=b"x=1&secret=a%2Bb+c%26d")
    assert response.status == 200
    assert len(publisher.records) == 1


async def test_readiness_asks_the_broker_after_a_failed_publish() -> None:
    """Unready after a failure; /readyz then asks the broker itself instead of waiting for a
    post that an unready pod would never get."""
    publisher = FakePublisher()
    publisher.fail = True
    answers = [False, True]
    asked = []

    async def reach_broker() -> bool:
        asked.append(1)
        return answers.pop(0)

    registry = CollectorRegistry()
    settings = WebhookSettings.model_validate({"secret": SecretStr(SECRET)})
    app = WebhookReceiver(settings, TOPIC, publisher, Metrics(registry), reach_broker=reach_broker)
    assert (await call(app, path="/readyz", method="GET")).status == 200
    assert not asked  # ready: nothing to ask

    assert (await call(app, envelope())).status == 503
    assert (await call(app, path="/readyz", method="GET")).status == 503
    assert (await call(app, path="/readyz", method="GET")).status == 200
    assert len(asked) == 2
    assert app.ready


async def test_the_window_holds_at_most_dedupe_max_ids_and_counts_evictions() -> None:
    """5,000 distinct ids through a receiver capped at 1,000: the window never holds more, the
    other 4,000 are counted evicted, and the newest ids still de-duplicate."""
    publisher = FakePublisher()
    app, registry = _receiver(publisher, dedupe_max_ids=1_000)

    for n in range(5_000):
        assert (await call(app, envelope(f"evt_{n}"))).status == 200

    assert registry.get_sample_value("gateway_webhook_dedupe_ids") == 1_000
    assert registry.get_sample_value("gateway_webhook_dedupe_evicted_ids_total") == 4_000
    assert outcome(registry, "published") == 5_000
    await call(app, envelope("evt_4999"))
    assert outcome(registry, "duplicate") == 1
    await call(app, envelope("evt_0"))  # evicted: published again, as after its window
    assert outcome(registry, "published") == 5_001
