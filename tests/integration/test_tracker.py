"""The delivery tracker on a real broker: worker + sandbox + webhook receiver + tracker; a
sendText through Kafka comes back on the delivery topic as SERVER -> DEVICE -> READ."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from examples import CHAT
from wawp_gateway.core.config import TrackerProcessSettings
from wawp_gateway.core.contracts import StateRecord, StateStatus
from wawp_gateway.core.kafka import build_producer, create_topics
from wawp_gateway.core.sections import KafkaSettings, MetricsSettings, TrackerSettings
from wawp_gateway.tracker.service import running_tracker

from .harness import (
    PARTITIONS,
    OutputCollector,
    command,
    logged_port,
    running_delivery_stack,
    topics_for,
)

INSTANCE = "TRACKINST001"


def _acks_of(records: list[Any], command_id: str) -> list[dict[str, Any]]:
    values = [json.loads(r.value) for r in records]
    return [v for v in values if v.get("command_id") == command_id]


async def test_a_send_is_tracked_to_read(kafka_bootstrap: str) -> None:
    async with running_delivery_stack(
        kafka_bootstrap, f"trk-{uuid.uuid4().hex[:8]}", INSTANCE
    ) as stack:
        gw, settings, registry = stack.gateway, stack.settings, stack.registry
        delivery = settings.topics.delivery
        await gw.outputs.follow([delivery])
        cmd = command(
            INSTANCE,
            "sendText",
            {"chatId": CHAT, "message": "tracked"},
            correlation_id="corr-7",
        )
        await gw.publish(cmd, topic=settings.topics.send)
        result = await gw.outputs.result(cmd["id"], deadline_s=10)
        assert result["status"] == "succeeded"

        def read(seen: Any) -> list[dict[str, Any]] | None:
            found = _acks_of(seen.by_topic[delivery], cmd["id"])
            return found if any(v["ack_name"] == "READ" for v in found) else None

        records = await gw.outputs.wait_for(read, deadline_s=10)
        assert [r["ack_name"] for r in records] == ["SERVER", "DEVICE", "READ"]
        for record in records:
            assert record["schema"] == "wawp.delivery.v1"
            assert record["correlation_id"] == "corr-7"
            assert record["instance_id"] == INSTANCE
            assert record["message_id"] == result["message_id"]
            assert record["ack_timeout"] is False
            assert record["sent_at"]
            assert record["acked_at"]
        keys = {
            r.key
            for r in gw.outputs.seen.by_topic[delivery]
            if json.loads(r.value)["command_id"] == cmd["id"]
        }
        assert keys == {result["message_id"].encode()}

        count = registry.get_sample_value(
            "gateway_message_ack_latency_seconds_count", {"ack": "READ"}
        )
        assert count == 1
        delivered = registry.get_sample_value(
            "gateway_tracked_sends_total", {"result": "delivered"}
        )
        assert delivered == 1
        async with httpx.AsyncClient() as client:
            base = f"http://127.0.0.1:{stack.tracker.metrics_port}"
            metrics = await client.get(f"{base}/metrics")
            assert 'gateway_message_acks_total{ack="DEVICE"} 1.0' in metrics.text
            assert (await client.get(f"{base}/healthz")).status_code == 200
            assert (await client.get(f"{base}/readyz")).status_code == 200


async def test_the_tracker_process_serves_probes_and_stops_on_sigterm(kafka_bootstrap: str) -> None:
    """`wawp-gateway tracker` on port 0 logs metrics.listening with the port, serves its probes
    and metrics, and exits 0 on SIGTERM at once, also while its first group join is under way
    (long group timings: waiting out that join would take past the test's deadline)."""
    prefix = f"trkp-{uuid.uuid4().hex[:8]}"
    topics = topics_for(prefix)
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    await create_topics(kafka, [topics.events, topics.state, topics.delivery], partitions=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_LOG__FORMAT="json",
        GATEWAY_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
        GATEWAY_KAFKA__GROUP_ID=prefix,
        GATEWAY_KAFKA__SESSION_TIMEOUT_MS="30000",
        GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS="3000",
        GATEWAY_KAFKA__REBALANCE_TIMEOUT_MS="60000",
        GATEWAY_TOPICS__EVENTS=topics.events,
        GATEWAY_TOPICS__STATE=topics.state,
        GATEWAY_TOPICS__DELIVERY=topics.delivery,
        GATEWAY_METRICS__HOST="127.0.0.1",
        GATEWAY_METRICS__PORT="0",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wawp_gateway",
        "tracker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stderr = process.stderr
    assert stderr is not None
    lines: list[bytes] = []
    try:
        port = await asyncio.wait_for(logged_port(stderr, "metrics.listening", lines), 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            metrics = (await client.get("/metrics")).text
            assert "gateway_ack_timeouts_total 0.0" in metrics
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0


def _sent_record(message_id: str, command_id: str, at: datetime) -> bytes:
    return (
        StateRecord(
            instance_id=INSTANCE,
            idempotency_key=command_id,
            command_id=command_id,
            status=StateStatus.SUCCEEDED,
            message_id=message_id,
            attempts=1,
            first_attempt_at=at,
            action="sendText",
            recorded_at=at,
        )
        .model_dump_json(by_alias=True)
        .encode()
    )


def _ack_event(message_id: str, level: int, at: datetime) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "event": "message.ack",
            "session": INSTANCE,
            "timestamp": int(at.timestamp() * 1000),
            "payload": {"id": message_id, "fromMe": True, "ack": level},
        }
    ).encode()


async def test_a_restarted_tracker_rebuilds_its_join_from_the_recent_past(
    kafka_bootstrap: str,
) -> None:
    """Tracker A sees two sends and DEVICE for the first; it stops. Tracker B (same group) joins
    a READ of the first to its command (the send was read before the restart), reports no
    timeout for it (DEVICE came before the restart), and reports the timeout of the second."""
    prefix = f"trkr-{uuid.uuid4().hex[:8]}"
    topics = topics_for(prefix)
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        group_id=prefix,
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
        rebalance_timeout_ms=3000,
    )
    await create_topics(
        kafka, [topics.events, topics.state, topics.delivery], partitions=PARTITIONS
    )
    tracking = TrackerProcessSettings(
        kafka=kafka,
        topics=topics,
        metrics=MetricsSettings(host="127.0.0.1", port=0),
        tracker=TrackerSettings(ack_timeout_s=4),
    )
    now = datetime.now(UTC)
    delivered, silent = "3EB0DELIVERED0001", "3EB0SILENT0000001"
    key = INSTANCE.encode()
    outputs = OutputCollector(kafka_bootstrap, [topics.delivery])
    await outputs.start()
    producer = build_producer(kafka)
    await producer.start()
    try:
        for value in (_sent_record(delivered, "cmd-1", now), _sent_record(silent, "cmd-2", now)):
            await producer.send_and_wait(topics.state, value, key=key)
        for level in (1, 2):
            await producer.send_and_wait(topics.events, _ack_event(delivered, level, now), key=key)
        await _track_until(tracking, outputs, lambda rs: len(rs) == 2)  # tracker A

        await producer.send_and_wait(topics.events, _ack_event(delivered, 3, now), key=key)
        registry = CollectorRegistry()
        records = await _track_until(  # tracker B
            tracking,
            outputs,
            lambda rs: len(rs) >= 4 and any(r.get("ack_timeout") for r in rs),
            registry,
        )
    finally:
        await producer.stop()
        await outputs.stop()

    after = records[2:]
    read = [r for r in after if r["message_id"] == delivered]
    assert [(r["ack_name"], r["command_id"]) for r in read] == [("READ", "cmd-1")]
    timeouts = [r for r in after if r["ack_timeout"]]
    assert [(r["message_id"], r["command_id"]) for r in timeouts] == [(silent, "cmd-2")]
    assert registry.get_sample_value("gateway_message_acks_total", {"ack": "DEVICE"}) == 0


async def _track_until(
    settings: TrackerProcessSettings,
    outputs: OutputCollector,
    done: Any,
    registry: CollectorRegistry | None = None,
) -> list[dict[str, Any]]:
    """Run a tracker until the delivery records seen so far satisfy ``done``; stop it."""
    async with running_tracker(settings, registry) as tracker:
        stopping = asyncio.Event()
        task = asyncio.create_task(tracker.run(stopping))
        try:
            seen = await outputs.wait_for(
                lambda s: (
                    values
                    if done(
                        values := [
                            json.loads(r.value) for r in s.by_topic[settings.topics.delivery]
                        ]
                    )
                    else None
                ),
                deadline_s=30,
            )
        finally:
            stopping.set()
            await asyncio.wait_for(task, 10)
    return list(seen)
