"""Secured Kafka end to end: TLS (mutual TLS too) through a real TLS terminator and SASL PLAIN /
SCRAM through a real SASL layer, both in front of the embedded broker (tests/kafka_edges.py).

The gateway's processes run in-process (worker, webhook receiver, tracker) and as the user runs
them (`topics create`, `send --wait`, `dlq ls`, and every process refusing a broker it cannot
trust or log in to: exit 3 within 30 s, one line, no password anywhere)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import generate_latest

from examples import CHAT
from kafka_edges import Certificates, SecuredBroker, make_certificates, secured_broker
from kafka_edges import server_context as tls_server
from wawp_gateway.core.kafka import build_consumer, build_producer, create_topics, start_client
from wawp_gateway.core.sections import KafkaSettings

from .harness import running_delivery_stack, topics_for

pytestmark = pytest.mark.kafka

EXE = [sys.executable, "-m", "wawp_gateway"]
USER, PASSWORD = "gateway", "pw-Secure-7f3a9c1e"
WRONG_PASSWORD = "pw-Wrong-0b2d4e6f"
INSTANCE = "SECURE000001"
REFUSAL_DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_broker(certs: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with secured_broker(tmp_path_factory.mktemp("tls"), tls=tls_server(certs)) as broker:
        yield broker


@pytest.fixture(scope="module")
def mtls_broker(certs: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    context = tls_server(certs, require_client_cert=True)
    with secured_broker(tmp_path_factory.mktemp("mtls"), tls=context) as broker:
        yield broker


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with secured_broker(tmp_path_factory.mktemp("sasl"), users={USER: PASSWORD}) as broker:
        yield broker


@pytest.fixture(scope="module")
def sasl_tls_broker(certs: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with secured_broker(
        tmp_path_factory.mktemp("sasl-tls"), tls=tls_server(certs), users={USER: PASSWORD}
    ) as broker:
        yield broker


def tls(certs: Certificates, *, ca: Path | None = None, client: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {"security_protocol": "SSL", "ssl_cafile": ca or certs.ca}
    if client:
        fields.update(ssl_certfile=certs.client_cert, ssl_keyfile=certs.client_key)
    return fields


def sasl(mechanism: str, *, password: str = PASSWORD, protocol: str = "SASL_PLAINTEXT") -> dict:
    return {
        "security_protocol": protocol,
        "sasl_mechanism": mechanism,
        "sasl_username": USER,
        "sasl_password": password,
    }


def env_of(bootstrap: str, security: dict[str, Any], prefix: str, **extra: str) -> dict[str, str]:
    """The environment a user would set: ``GATEWAY_KAFKA__*`` for ``security``'s fields."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        GATEWAY_KAFKA__PARTITIONS="2",
        GATEWAY_LOG__FORMAT="json",
        **{f"GATEWAY_TOPICS__{k.upper()}": v for k, v in topics_for(prefix).model_dump().items()},
        **{f"GATEWAY_KAFKA__{k.upper()}": str(v) for k, v in security.items()},
        **extra,
    )
    return env


async def run_cli(*args: str, env: dict[str, str], deadline_s: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *EXE,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), deadline_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


SEND = ("send", "sendText", "--instance", INSTANCE, "--param", f"chatId={CHAT}")
# Every command that talks to Kafka, with what it needs besides Kafka to get that far.
COMMANDS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "worker": (
        ("worker",),
        {
            "GATEWAY_ALLOW_UNLISTED_INSTANCES": "true",
            "GATEWAY_WAWP__ACCESS_TOKEN": "tok-unused",
            "GATEWAY_METRICS__HOST": "127.0.0.1",
            "GATEWAY_METRICS__PORT": "0",
        },
    ),
    "webhook": (
        ("webhook",),
        {
            "GATEWAY_WEBHOOK__SECRET": "hook-secret",
            "GATEWAY_WEBHOOK__HOST": "127.0.0.1",
            "GATEWAY_WEBHOOK__PORT": "0",
        },
    ),
    "tracker": (
        ("tracker",),
        {"GATEWAY_METRICS__HOST": "127.0.0.1", "GATEWAY_METRICS__PORT": "0"},
    ),
    "send --wait": ((*SEND, "--param", "message=hi", "--wait", "--timeout", "20"), {}),
    "dlq ls": (("dlq", "ls"), {}),
    "topics create": (("topics", "create"), {}),
    "instances ls": (("instances", "ls"), {}),
}


async def assert_refused(
    name: str, bootstrap: str, security: dict[str, Any], event: str, *secrets: str
) -> None:
    """``name`` exits 3 within 30 s, its only output one JSON line: ``event``, naming a setting;
    none of ``secrets`` anywhere in what it printed."""
    args, extra = COMMANDS[name]
    started = time.monotonic()
    code, out, err = await run_cli(
        *args, env=env_of(bootstrap, security, f"refused-{uuid.uuid4().hex[:6]}", **extra)
    )
    elapsed = time.monotonic() - started

    assert code == 3, (name, code, out, err)
    assert elapsed < REFUSAL_DEADLINE_S
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) == 1, (name, lines)
    logged = json.loads(lines[0])
    assert logged["event"] == event, logged
    assert logged["setting"].startswith("GATEWAY_KAFKA__")
    for secret in secrets:
        assert secret not in out + err


async def tracked_to_read(
    broker: SecuredBroker, security: dict[str, Any], prefix: str
) -> dict[str, str]:
    """Worker, webhook receiver and tracker in-process on ``broker``; `topics create`,
    `send --wait`, `dlq ls` and `instances put|ls` as a user runs them. Returns what the
    commands printed."""
    env = env_of(broker.bootstrap, security, prefix)
    code, out, err = await run_cli("topics", "create", env=env)
    assert code == 0, err
    assert "created" in out
    printed = {"topics create": out + err}
    async with running_delivery_stack(
        broker.bootstrap, prefix, INSTANCE, security=security
    ) as stack:
        await stack.gateway.outputs.follow([stack.settings.topics.delivery])
        code, out, err = await run_cli(*SEND, "--param", "message=secured", "--wait", env=env)
        assert code == 0, err
        result = json.loads(out)
        assert result["status"] == "succeeded", result
        printed["send --wait"] = out + err

        def read(seen: Any) -> bool:
            values = [json.loads(r.value) for r in seen.by_topic[stack.settings.topics.delivery]]
            return any(
                v.get("command_id") == result["command_id"] and v.get("ack_name") == "READ"
                for v in values
            )

        await stack.gateway.outputs.wait_for(read)
        printed["metrics"] = generate_latest(stack.registry).decode()
        printed["worker metrics"] = generate_latest(stack.gateway.app.metrics.registry).decode()
    code, out, err = await run_cli("dlq", "ls", env=env)
    assert code == 0, err
    printed["dlq ls"] = out + err
    code, out, err = await run_cli("instances", "put", "SECURED00001", "--burst", "2", env=env)
    assert code == 0, err
    code, out, err = await run_cli("instances", "ls", "--json", env=env)
    assert code == 0, err
    assert {"instance": "SECURED00001", "burst": 2}.items() <= json.loads(out)[0].items()
    printed["instances ls"] = out + err
    return printed


async def test_every_process_works_through_tls_with_the_right_ca(
    tls_broker: SecuredBroker, certs: Certificates
) -> None:
    sessions_before = tls_broker.relay.sessions
    printed = await tracked_to_read(tls_broker, tls(certs), f"tls-{uuid.uuid4().hex[:6]}")

    assert "0 of 0 records match" in printed["dlq ls"]
    # Every client (admin, producers, consumers, coordinators) connected through the terminator.
    assert tls_broker.relay.sessions - sessions_before >= 10


@pytest.mark.parametrize("name", list(COMMANDS))
async def test_a_wrong_ca_stops_each_command_with_tls_failed(
    name: str, tls_broker: SecuredBroker, certs: Certificates
) -> None:
    await assert_refused(
        name, tls_broker.bootstrap, tls(certs, ca=certs.wrong_ca), "kafka.tls_failed"
    )


async def test_mutual_tls_works_with_a_client_certificate(
    mtls_broker: SecuredBroker, certs: Certificates
) -> None:
    """Admin, producer (the SDK's) and a group consumer that commits, with the client cert."""
    await produced_and_consumed(mtls_broker, tls(certs, client=True))


@pytest.mark.parametrize("name", ["worker", "topics create", "send --wait"])
async def test_mutual_tls_refuses_a_client_without_certificate(
    name: str, mtls_broker: SecuredBroker, certs: Certificates
) -> None:
    await assert_refused(name, mtls_broker.bootstrap, tls(certs), "kafka.tls_failed")


async def produced_and_consumed(broker: SecuredBroker, security: dict[str, Any]) -> None:
    topic = f"secured-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(
        bootstrap_servers=broker.bootstrap,
        group_id=f"{topic}-group",
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
        rebalance_timeout_ms=3000,
        fetch_max_wait_ms=10,
        **security,
    )
    assert await create_topics(kafka, [topic], partitions=1) == [topic]
    producer = build_producer(kafka)
    await start_client(producer, kafka)
    try:
        await producer.send_and_wait(topic, b"through the edge", key=b"k")
    finally:
        await producer.stop()
    consumer = build_consumer(kafka)
    await start_client(consumer, kafka)
    try:
        consumer.subscribe([topic])
        batch = await asyncio.wait_for(consumer.getmany(timeout_ms=10_000), 30)
        values = [r.value for records in batch.values() for r in records]
        assert values == [b"through the edge"]
        await consumer.commit()
    finally:
        await consumer.stop()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_mechanisms_log_in(mechanism: str, sasl_broker: SecuredBroker) -> None:
    before = sasl_broker.relay.logins.count(mechanism)
    await produced_and_consumed(sasl_broker, sasl(mechanism))

    assert sasl_broker.relay.logins.count(mechanism) > before


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_mechanisms_log_in_behind_tls(
    mechanism: str, sasl_tls_broker: SecuredBroker, certs: Certificates
) -> None:
    before = sasl_tls_broker.relay.logins.count(mechanism)
    security = {**sasl(mechanism, protocol="SASL_SSL"), "ssl_cafile": certs.ca}
    await produced_and_consumed(sasl_tls_broker, security)

    assert sasl_tls_broker.relay.logins.count(mechanism) > before


async def test_scram_behind_tls_runs_every_process_and_leaks_no_password(
    sasl_tls_broker: SecuredBroker, certs: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    """SASL_SSL with SCRAM-SHA-512: the whole stack works, and the password is in no log line
    (every structlog event and every stdlib record down to DEBUG, aiokafka's included), nothing
    a command printed and no metric."""
    security = {**sasl("SCRAM-SHA-512", protocol="SASL_SSL"), "ssl_cafile": certs.ca}
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        printed = await tracked_to_read(
            sasl_tls_broker, security, f"scram-tls-{uuid.uuid4().hex[:6]}"
        )

    assert "SCRAM-SHA-512" in sasl_tls_broker.relay.logins
    records = [f"{r.getMessage()} {r.exc_text or ''} {r.exc_info!r}" for r in caplog.records]
    assert records, "nothing captured: the check below would prove nothing"
    everything = json.dumps(logs, default=str) + "".join(printed.values()) + "".join(records)
    assert PASSWORD not in everything


async def test_a_wrong_plain_password_is_one_auth_failed_line(sasl_broker: SecuredBroker) -> None:
    await assert_refused(
        "topics create",
        sasl_broker.bootstrap,
        sasl("PLAIN", password=WRONG_PASSWORD),
        "kafka.auth_failed",
        WRONG_PASSWORD,
    )


@pytest.mark.parametrize("name", list(COMMANDS))
async def test_a_wrong_password_stops_each_command_with_auth_failed(
    name: str, sasl_broker: SecuredBroker
) -> None:
    await assert_refused(
        name,
        sasl_broker.bootstrap,
        sasl("SCRAM-SHA-256", password=WRONG_PASSWORD),
        "kafka.auth_failed",
        WRONG_PASSWORD,
    )


async def test_a_faststream_broker_from_the_settings_logs_in(
    sasl_tls_broker: SecuredBroker, certs: Certificates
) -> None:
    """The SDK's FastStream broker takes the same settings: SCRAM-SHA-256 over TLS."""
    from faststream.kafka import KafkaBroker

    from wawp_gateway.core.config import ClientSettings
    from wawp_gateway.sdk.faststream import broker_from_settings

    security = {**sasl("SCRAM-SHA-256", protocol="SASL_SSL"), "ssl_cafile": certs.ca}
    kafka = KafkaSettings(bootstrap_servers=sasl_tls_broker.bootstrap, **security)
    topic = f"faststream-{uuid.uuid4().hex[:8]}"
    await create_topics(kafka, [topic], partitions=1)
    broker: KafkaBroker = broker_from_settings(ClientSettings(kafka=kafka))
    before = sasl_tls_broker.relay.logins.count("SCRAM-SHA-256")

    async with broker:
        await broker.publish(b"from faststream", topic=topic)
    reader = build_consumer(
        kafka.model_copy(
            update={
                "group_id": f"{topic}-group",
                "session_timeout_ms": 3000,
                "heartbeat_interval_ms": 500,
                "rebalance_timeout_ms": 3000,
                "fetch_max_wait_ms": 10,
            }
        )
    )
    await start_client(reader, kafka)
    try:
        reader.subscribe([topic])
        batch = await asyncio.wait_for(reader.getmany(timeout_ms=10_000), 30)
    finally:
        await reader.stop()

    assert [r.value for records in batch.values() for r in records] == [b"from faststream"]
    assert sasl_tls_broker.relay.logins.count("SCRAM-SHA-256") > before
