"""The delivery tracker on a real broker: worker + sandbox + webhook receiver + tracker; a
sendText through Kafka comes back on the delivery topic as SERVER -> DEVICE -> READ."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from examples import CHAT
from wawp_gateway.config import (
    KafkaSettings,
    MetricsSettings,
    ReceiverSettings,
    TrackerProcessSettings,
    TrackerSettings,
    WebhookSettings,
)
from wawp_gateway.kafka import create_topics
from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox
from wawp_gateway.tracker import running_tracker
from wawp_gateway.webhook import running_webhook

from .harness import (
    TEST_TOKEN,
    command,
    gateway_settings,
    logged_port,
    running_gateway,
    topics_for,
)

INSTANCE = "TRACKINST001"
SECRET = "tracker-hook-secret"


def _acks_of(records: list[Any], command_id: str) -> list[dict[str, Any]]:
    values = [json.loads(r.value) for r in records]
    return [v for v in values if v.get("command_id") == command_id]


async def test_a_send_is_tracked_to_read(kafka_bootstrap: str) -> None:
    prefix = f"trk-{uuid.uuid4().hex[:8]}"
    sandbox = Sandbox(
        SandboxConfig.model_validate(
            {"instances": {INSTANCE: TEST_TOKEN}, "ack_delays_ms": (10, 20, 30)}
        )
    )
    registry = CollectorRegistry()
    async with running_sandbox(sandbox) as url:
        settings = gateway_settings(kafka_bootstrap, url, prefix, [INSTANCE])
        kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000)
        receiver = ReceiverSettings(
            kafka=kafka,
            topics=settings.topics,
            webhook=WebhookSettings(host="127.0.0.1", port=0, secret=SecretStr(SECRET)),
        )
        tracking = TrackerProcessSettings(
            kafka=settings.kafka,
            topics=settings.topics,
            metrics=MetricsSettings(host="127.0.0.1", port=0),
            tracker=TrackerSettings(ack_timeout_s=30),
        )
        async with (
            running_gateway(settings, sandbox) as gw,
            running_webhook(receiver) as (webhook_port, _),
            running_tracker(tracking, registry) as tracker,
        ):
            sandbox.set_webhook(f"http://127.0.0.1:{webhook_port}/webhooks/wawp", secret=SECRET)
            stopping = asyncio.Event()
            task = asyncio.create_task(tracker.run(stopping))
            try:
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
                    base = f"http://127.0.0.1:{tracker.metrics_port}"
                    metrics = await client.get(f"{base}/metrics")
                    assert 'gateway_message_acks_total{ack="DEVICE"} 1.0' in metrics.text
                    assert (await client.get(f"{base}/healthz")).status_code == 200
                    assert (await client.get(f"{base}/readyz")).status_code == 200
            finally:
                stopping.set()
                await asyncio.wait_for(task, 10)
                sandbox.set_webhook(None)
    await sandbox.aclose()


async def test_the_tracker_process_serves_probes_and_stops_on_sigterm(kafka_bootstrap: str) -> None:
    """`wawp-gateway tracker` on port 0 logs metrics.listening with the port, serves its probes
    and metrics, and exits 0 on SIGTERM."""
    prefix = f"trkp-{uuid.uuid4().hex[:8]}"
    topics = topics_for(prefix)
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    await create_topics(kafka, [topics.events, topics.state, topics.delivery], partitions=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_LOG__FORMAT="json",
        GATEWAY_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
        GATEWAY_KAFKA__GROUP_ID=prefix,
        # Fast group timings: a stop during the first join waits for that join (as the worker's).
        GATEWAY_KAFKA__SESSION_TIMEOUT_MS="3000",
        GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS="500",
        GATEWAY_KAFKA__REBALANCE_TIMEOUT_MS="3000",
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
