"""The delivery tracker on a real broker: worker + sandbox + webhook receiver + tracker; a
sendText through Kafka comes back on the delivery topic as SERVER -> DEVICE -> READ."""

from __future__ import annotations

import asyncio
import json
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
from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox
from wawp_gateway.tracker import running_tracker
from wawp_gateway.webhook import running_webhook

from .harness import TEST_TOKEN, command, gateway_settings, running_gateway

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
