"""Partitioning contract: count check, co-partitioning, re-routing, earliest offset, and two
workers side by side on one host (metrics port 0)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from structlog.testing import capture_logs

from examples import CHAT
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.kafka import build_consumer, create_topics
from wawp_gateway.core.partitioning import partition_for
from wawp_gateway.sandbox import Sandbox
from wawp_gateway.worker.admission import REROUTED_HEADER
from wawp_gateway.worker.app import build_worker

from .conftest import POOL
from .harness import (
    PARTITIONS,
    Gateway,
    OutputCollector,
    command,
    gateway_settings,
    running_gateway,
)

TEXT = {"chatId": CHAT, "message": "hi"}


async def test_worker_refuses_to_start_when_partition_counts_differ(
    kafka_bootstrap: str, unique: Any
) -> None:
    """send, command and state must have the same partition count (co-partitioning)."""
    settings = gateway_settings(kafka_bootstrap, "http://127.0.0.1:9", unique("pc"), POOL[:1])
    topics = settings.topics
    await create_topics(settings.kafka, [topics.send, topics.command], partitions=4)
    await create_topics(settings.kafka, [topics.state], partitions=2)

    with pytest.raises(ConfigError) as refused:
        async with build_worker(settings):
            pass

    assert "same partition count" in str(refused.value)
    assert f"{topics.state}=2" in str(refused.value)


async def test_worker_refuses_to_start_without_its_topics(
    kafka_bootstrap: str, unique: Any
) -> None:
    """A missing input topic is named, and not auto-created by the check."""
    settings = gateway_settings(kafka_bootstrap, "http://127.0.0.1:9", unique("nt"), POOL[:1])

    with pytest.raises(ConfigError) as refused:
        async with build_worker(settings):
            pass

    assert refused.value.setting == "GATEWAY_TOPICS__SEND"
    assert "topics create" in str(refused.value)


async def test_consumer_uses_the_range_assignor(kafka_bootstrap: str) -> None:
    """Range gives partition N of every input topic to one member (co-partitioning)."""
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor

    from wawp_gateway.core.sections import KafkaSettings

    consumer = build_consumer(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    assert consumer._partition_assignment_strategy == (RangePartitionAssignor,)
    await consumer.stop()


async def test_command_in_the_wrong_partition_is_rerouted_once(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """Found outside murmur2(instance) mod N: forwarded there with gateway-rerouted, run once."""
    right = partition_for(instance, PARTITIONS)
    wrong = (right + 1) % PARTITIONS
    cmd = command(instance, "sendText", TEXT)
    send_topic = gateway.settings.topics.send
    await gateway.outputs.follow([send_topic])

    result = await gateway.run(cmd, topic=send_topic, partition=wrong)

    assert result["status"] == "succeeded"
    copies = [r for r in gateway.outputs.seen.by_topic[send_topic] if cmd["id"].encode() in r.value]
    assert sorted(r.partition for r in copies) == sorted([wrong, right])
    forwarded = next(r for r in copies if r.partition == right)
    assert (REROUTED_HEADER, b"true") in list(forwarded.headers)
    assert forwarded.key == instance.encode()
    assert len(sandbox.requests(instance_id=instance, action="sendText")) == 1
    assert len(gateway.outputs.seen.results[cmd["id"]]) == 1


async def test_new_group_starts_from_the_earliest_offset(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    """Commands published before the group's first worker started are processed."""
    sandbox, url = sandbox_url
    settings = gateway_settings(kafka_bootstrap, url, unique("early"), POOL)
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    cmd = command(POOL[-1], "getSessionInfo", {})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topics.command, json.dumps(cmd).encode(), key=POOL[-1].encode()
        )
    finally:
        await producer.stop()

    async with running_gateway(settings, sandbox, create=False) as gw:
        result = await gw.outputs.result(cmd["id"])

    assert result["status"] == "succeeded"


async def test_two_workers_run_side_by_side_with_metrics_port_zero(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    """Port 0 picks a free port, logged as metrics.listening; both workers share the group."""
    _, url = sandbox_url
    settings = gateway_settings(kafka_bootstrap, url, unique("pair"), POOL)
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    stopping = asyncio.Event()

    with capture_logs() as logs:
        async with build_worker(settings) as first, build_worker(settings) as second:
            runs = [asyncio.create_task(app.worker.run(stopping)) for app in (first, second)]
            await asyncio.wait_for(
                asyncio.gather(first.worker.assigned.wait(), second.worker.assigned.wait()), 30
            )
            ports = {first.metrics_port, second.metrics_port}
            outputs = OutputCollector(kafka_bootstrap, [settings.topics.results])
            await outputs.start()
            try:
                cmds = [command(i, "getSessionInfo", {}) for i in POOL[-8:]]
                producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
                await producer.start()
                for cmd in cmds:
                    await producer.send_and_wait(
                        settings.topics.command,
                        json.dumps(cmd).encode(),
                        key=cmd["instance_id"].encode(),
                    )
                await producer.stop()
                results = [await outputs.result(c["id"]) for c in cmds]
            finally:
                await outputs.stop()
                stopping.set()
                await asyncio.gather(*runs)

    assert len(ports) == 2
    assert 0 not in ports
    logged = {e["port"] for e in logs if e["event"] == "metrics.listening"}
    assert ports <= logged
    assert all(r["status"] == "succeeded" for r in results)
