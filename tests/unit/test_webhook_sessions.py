"""The receiver's ``session.status`` events: the status written to the sessions topic, and the
answer given only once both records were acknowledged (docs/contract.md "Held instances")."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from test_webhook_receiver import SECRET, TOPIC, FakePublisher, call

from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.sections import WebhookSettings
from wawp_gateway.webhook.app import WebhookReceiver

SESSIONS = "t.sessions"


def receiver(publisher: FakePublisher, **values: Any) -> WebhookReceiver:
    settings = WebhookSettings.model_validate({"secret": SecretStr(SECRET), **values})
    return WebhookReceiver(
        settings, TOPIC, publisher, Metrics(CollectorRegistry()), sessions_topic=SESSIONS
    )


def status_event(status: Any, *, event_id: str = "evt_s1", **extra: Any) -> bytes:
    body = {
        "id": event_id,
        "timestamp": 1735689600123,
        "session": "INST1",
        "event": "session.status",
        "payload": {"name": "INST1", "status": status},
        **extra,
    }
    return json.dumps(body).encode()


async def test_a_status_event_writes_the_status_and_the_event() -> None:
    publisher = FakePublisher()
    app = receiver(publisher)
    body = status_event("SCAN_QR_CODE")

    response = await call(app, body)

    assert response.status == 200
    by_topic = {topic: (key, value) for topic, key, value, _ in publisher.records}
    assert by_topic[TOPIC] == (b"INST1", body)
    key, value = by_topic[SESSIONS]
    assert key == b"INST1"
    assert json.loads(value) == {
        "schema": "wawp.session.v1",
        "instance_id": "INST1",
        "status": "SCAN_QR_CODE",
        "at": "2025-01-01T00:00:00.123000Z",
        "event_id": "evt_s1",
    }


async def test_the_path_names_the_instance_of_the_status() -> None:
    publisher = FakePublisher()
    app = receiver(publisher)
    await call(app, status_event("STOPPED"), path="/webhooks/wawp/PATHINST")
    (key, value) = next((k, v) for t, k, v, _ in publisher.records if t == SESSIONS)
    assert key == b"PATHINST"
    assert json.loads(value)["instance_id"] == "PATHINST"


async def test_a_status_without_a_usable_timestamp_is_stamped_on_receipt() -> None:
    publisher = FakePublisher()
    app = receiver(publisher)
    await call(app, status_event("WORKING", timestamp="yesterday"))
    value = next(v for t, _, v, _ in publisher.records if t == SESSIONS)
    assert json.loads(value)["at"].startswith("20")


async def test_an_unknown_status_publishes_the_event_and_writes_no_status() -> None:
    publisher = FakePublisher()
    app = receiver(publisher)
    for status in ("SLEEPING", None, 7):
        response = await call(app, status_event(status, event_id=f"evt_{status}"))
        assert response.status == 200
    assert [t for t, *_ in publisher.records] == [TOPIC, TOPIC, TOPIC]


async def test_other_events_write_no_status() -> None:
    publisher = FakePublisher()
    app = receiver(publisher)
    body = json.dumps({"event": "message.ack", "id": "e1", "session": "INST1"}).encode()
    assert (await call(app, body)).status == 200
    assert [t for t, *_ in publisher.records] == [TOPIC]


async def test_the_answer_waits_for_both_acknowledgements() -> None:
    publisher = FakePublisher()
    publisher.gate = asyncio.Event()
    app = receiver(publisher)
    answer = asyncio.create_task(call(app, status_event("STOPPED")))
    await asyncio.wait_for(publisher.entered.wait(), 1)
    done, _ = await asyncio.wait({answer}, timeout=0.05)
    assert not done
    publisher.gate.set()
    assert (await asyncio.wait_for(answer, 1)).status == 200
    assert len(publisher.records) == 2


async def test_a_failed_status_write_is_a_503_and_the_id_stays_out_of_the_window() -> None:
    """The event may have been stored; Wawp delivers again, and the status is written then."""

    class FailingSessions(FakePublisher):
        async def _publish(
            self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
        ) -> None:
            self.fail = topic == SESSIONS and self.calls < 2
            await super()._publish(topic, key, value, headers)

    publisher = FailingSessions()
    app = receiver(publisher)
    assert (await call(app, status_event("STOPPED"))).status == 503
    assert (await call(app, status_event("STOPPED"))).status == 200
    assert [t for t, *_ in publisher.records].count(SESSIONS) == 1


async def test_a_status_write_past_the_deadline_is_a_503() -> None:
    publisher = FakePublisher()
    publisher.hang = True
    app = receiver(publisher, publish_timeout_s=0.05)
    assert (await call(app, status_event("FAILED"))).status == 503
