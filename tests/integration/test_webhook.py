"""The webhook receiver on a real broker: uvicorn on a free port, a real HTTP client, the events
topic read back."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr
from structlog.testing import capture_logs

from wawp_gateway.core.broker import start_embedded_broker
from wawp_gateway.core.config import ReceiverSettings
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.sections import KafkaSettings, WebhookSettings
from wawp_gateway.webhook.server import running_webhook

from .harness import logged_port, topics_for

SECRET = "hook-secret-7c1e"
HMAC_KEY = "hook-hmac-key-91ad"
PARTITIONS = 2
DEADLINE_S = 10.0
EXAMPLES: list[dict[str, Any]] = [
    event["example"]
    for event in json.loads(
        resources.files("wawp_gateway.wawp").joinpath("webhooks.json").read_text()
    )["events"]
]


def _settings(bootstrap: str, events: str, **webhook: Any) -> ReceiverSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "secret": SecretStr(SECRET),
        "hmac_key": SecretStr(HMAC_KEY),
        "publish_timeout_s": 2.0,
        **webhook,
    }
    return ReceiverSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, request_timeout_ms=3000),
        topics=topics_for("unused").model_copy(update={"events": events}),
        webhook=WebhookSettings.model_validate(values),
    )


@asynccontextmanager
async def receiver(settings: ReceiverSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_webhook(settings) as (port, _),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE_S) as client,
    ):
        yield client


async def post(
    client: httpx.AsyncClient,
    body: bytes,
    *,
    path: str = "/webhooks/wawp",
    secret: str | None = SECRET,
    hmac_key: str | None = HMAC_KEY,
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if hmac_key is not None:
        headers["x-webhook-hmac"] = hmac.new(hmac_key.encode(), body, hashlib.sha512).hexdigest()
    params = {"secret": secret} if secret is not None else None
    return await client.post(path, content=body, headers=headers, params=params)


async def read_until(bootstrap: str, topic: str, done: Callable[[list[Any]], bool]) -> list[Any]:
    """Every record of ``topic`` from the start, once ``done(records)`` holds (or the deadline)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []

        async def collect() -> None:
            while not done(records):
                for batch in (await consumer.getmany(timeout_ms=50)).values():
                    records.extend(batch)

        await asyncio.wait_for(collect(), DEADLINE_S)
        return records
    finally:
        await consumer.stop()


async def new_topic(bootstrap: str, name: str) -> str:
    await create_topics(KafkaSettings(bootstrap_servers=bootstrap), [name], partitions=PARTITIONS)
    return name


def marker(session: str = "ABC123DEF456", event_id: str = "evt_marker") -> bytes:
    return json.dumps({"id": event_id, "session": session, "event": "test.marker"}).encode()


def ids_of(records: list[Any]) -> list[str]:
    return [json.loads(r.value).get("id") for r in records]


async def test_every_catalog_event_is_published_unchanged(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    """Each of the 24 example payloads comes out byte for byte, keyed, with its headers."""
    topic = await new_topic(kafka_bootstrap, unique("events"))
    sent: dict[str, tuple[bytes, str]] = {}
    async with receiver(_settings(kafka_bootstrap, topic)) as client:
        for n, example in enumerate(EXAMPLES):
            # Odd-shaped JSON (indentation, raw UTF-8) shows nothing re-encodes it.
            body = json.dumps(example, indent=n % 3 or None, ensure_ascii=False).encode()
            path, instance = "/webhooks/wawp", example["session"]
            if n % 2:
                path, instance = f"/webhooks/wawp/PATH{n:08d}", f"PATH{n:08d}"
            response = await post(client, body, path=path)
            assert response.status_code == 200, (example["event"], response.text)
            sent[example["id"]] = (body, instance)
    assert len(sent) == 24

    records = await read_until(kafka_bootstrap, topic, lambda rs: len(rs) >= len(sent))
    assert len(records) == len(sent)
    by_id = {json.loads(r.value)["id"]: r for r in records}
    for example in EXAMPLES:
        record = by_id[example["id"]]
        body, instance = sent[example["id"]]
        assert record.value == body
        assert record.key == instance.encode()
        assert list(record.headers) == [
            ("wawp-event", example["event"].encode()),
            ("wawp-event-id", example["id"].encode()),
            ("wawp-instance", instance.encode()),
        ]


async def test_refused_requests_publish_nothing(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    """401, 413, 400 and 405 answers leave the events topic untouched."""
    topic = await new_topic(kafka_bootstrap, unique("events"))
    good = json.dumps(EXAMPLES[1]).encode()
    with capture_logs() as logs:
        async with receiver(_settings(kafka_bootstrap, topic, max_body_bytes=2048)) as client:
            metrics = await _refused_requests(client, good)
    listening = [e for e in logs if e["event"] == "webhook.listening"]
    assert listening
    assert listening[0]["port"] == int(str(client.base_url).rsplit(":", 1)[1])
    assert SECRET not in repr(logs)
    assert HMAC_KEY not in repr(logs)

    # The marker went to the same partition after every refused request: it comes last.
    records = await read_until(kafka_bootstrap, topic, lambda rs: "evt_marker" in ids_of(rs))
    assert ids_of(records) == ["evt_marker"]
    assert 'gateway_webhook_requests_total{outcome="unauthorized"} 4.0' in metrics


async def _refused_requests(client: httpx.AsyncClient, good: bytes) -> str:
    """Every kind of refusal, then one good event (the marker), and the probes."""
    assert (await post(client, good, secret="wrong")).status_code == 401
    assert (await post(client, good, secret=None)).status_code == 401
    assert (await post(client, good, hmac_key="wrong")).status_code == 401
    assert (await post(client, good, hmac_key=None)).status_code == 401
    big = json.dumps({**EXAMPLES[1], "pad": "x" * 4096}).encode()
    assert (await post(client, big)).status_code == 413
    assert (await post(client, b"[]")).status_code == 400
    assert (await post(client, b'{"event": "message"}')).status_code == 400
    assert (await client.get("/webhooks/wawp", params={"secret": SECRET})).status_code == 405
    assert (await post(client, good, path="/webhooks/other")).status_code == 404
    assert (await post(client, marker())).status_code == 200
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    return (await client.get("/metrics")).text


async def test_duplicate_id_is_published_once(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    """Re-deliveries, one after another or at the same time, are answered 200 and published once."""
    topic = await new_topic(kafka_bootstrap, unique("events"))
    body = json.dumps(EXAMPLES[4]).encode()
    async with receiver(_settings(kafka_bootstrap, topic)) as client:
        answers = await asyncio.gather(*(post(client, body) for _ in range(3)))
        answers.append(await post(client, body))
        assert [a.status_code for a in answers] == [200] * 4
        assert (await post(client, marker(event_id="evt_after"))).status_code == 200

    records = await read_until(kafka_bootstrap, topic, lambda rs: "evt_after" in ids_of(rs))
    assert sorted(ids_of(records)) == sorted([EXAMPLES[4]["id"], "evt_after"])


async def test_broker_down_is_503_and_the_retry_is_published_once(
    tmp_path: Path, unique: Callable[[str], str]
) -> None:
    """Kafka unreachable: 503 within the publish timeout; with the broker back, the retried
    delivery is published, once. (A private embedded broker, stopped and started again.)"""
    broker = await asyncio.to_thread(start_embedded_broker, tmp_path / "first")
    port = broker.port
    topic = unique("events")
    body = json.dumps(EXAMPLES[3]).encode()
    try:
        settings = _settings(broker.bootstrap, topic, publish_timeout_s=0.5)
        async with receiver(settings) as client:
            # The topic is made after the producer started and nothing was published before the
            # outage: the failed attempt cannot sit in the producer's buffer and arrive later.
            await new_topic(broker.bootstrap, topic)
            await asyncio.to_thread(broker.stop)

            assert (await post(client, body)).status_code == 503
            assert (await client.get("/readyz")).status_code == 503

            broker = await asyncio.to_thread(start_embedded_broker, tmp_path / "second", port=port)
            await new_topic(broker.bootstrap, topic)
            # Ready again with the broker, before any post: a readiness probe holds traffic back.
            assert (await client.get("/readyz")).status_code == 200
            answer = await post(client, body)
            assert answer.status_code == 200, answer.text
            assert (await post(client, body)).status_code == 200  # now a duplicate
            assert (await post(client, marker(session=EXAMPLES[3]["session"]))).status_code == 200

        records = await read_until(broker.bootstrap, topic, lambda rs: "evt_marker" in ids_of(rs))
        assert sorted(ids_of(records)) == sorted([EXAMPLES[3]["id"], "evt_marker"])
    finally:
        await asyncio.to_thread(broker.stop)


async def test_receiver_refuses_to_start_unauthenticated(kafka_bootstrap: str) -> None:
    """Neither secret nor key (and not told to run open): a ConfigError before anything binds."""
    settings = ReceiverSettings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap),
        webhook=WebhookSettings(host="127.0.0.1", port=0),
    )
    with pytest.raises(ConfigError, match="GATEWAY_WEBHOOK__SECRET"):
        async with running_webhook(settings):
            pass


async def test_receiver_without_a_reachable_broker_refuses_to_start() -> None:
    """Nothing listening at the bootstrap address: a ConfigError naming the setting."""
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{unused.getsockname()[1]}"
        with pytest.raises(ConfigError, match="GATEWAY_KAFKA__BOOTSTRAP_SERVERS"):
            async with running_webhook(_settings(address, "events")):
                pass


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {**env, "GATEWAY_LOG__FORMAT": "json", **extra}


async def test_cli_refuses_to_run_open() -> None:
    """`wawp-gateway webhook` with neither secret nor key exits 2 naming the setting."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wawp_gateway",
        "webhook",
        env=_cli_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), DEADLINE_S)
    assert process.returncode == 2
    assert b"GATEWAY_WEBHOOK__SECRET" in stderr


async def test_cli_serves_on_the_logged_port_and_stops_on_sigterm(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    """`wawp-gateway webhook` on port 0 logs webhook.listening with the port, publishes, never
    logs the secret, and exits 0 on SIGTERM."""
    topic = await new_topic(kafka_bootstrap, unique("events"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wawp_gateway",
        "webhook",
        env=_cli_env(
            GATEWAY_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
            GATEWAY_TOPICS__EVENTS=topic,
            GATEWAY_WEBHOOK__HOST="127.0.0.1",
            GATEWAY_WEBHOOK__PORT="0",
            GATEWAY_WEBHOOK__SECRET=SECRET,
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stderr = process.stderr
    assert stderr is not None
    lines: list[bytes] = []
    try:
        port = await asyncio.wait_for(logged_port(stderr, "webhook.listening", lines), DEADLINE_S)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answer = await post(client, marker(), hmac_key=None)
            assert answer.status_code == 200
            assert (await post(client, marker(), secret="nope", hmac_key=None)).status_code == 401
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), DEADLINE_S)
    assert process.returncode == 0
    assert SECRET.encode() not in b"".join(lines) + rest
    records = await read_until(kafka_bootstrap, topic, lambda rs: "evt_marker" in ids_of(rs))
    assert ids_of(records) == ["evt_marker"]
