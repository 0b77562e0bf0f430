"""The AsyncAPI document of the gateway's topics, described with FastStream.

FastStream's broker declarations are the single place where each topic is tied to its payload
model; ``schemas/asyncapi.json`` is generated from them (``wawp-gateway schemas``). The worker's
consumer loop itself runs on aiokafka directly (README "Design decisions").
"""

from __future__ import annotations

import json
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from wawp_gateway import __version__
from wawp_gateway.core.contracts import (
    Command,
    DeliveryRecord,
    InstanceRecord,
    Result,
    SessionRecord,
    StateRecord,
    WebhookEnvelope,
)
from wawp_gateway.core.sections import TopicsSettings

__all__ = ["asyncapi_document"]


def _broker(topics: TopicsSettings) -> KafkaBroker:
    broker = KafkaBroker("127.0.0.1:9092", description="Apache Kafka (any Kafka-compatible broker)")

    @broker.subscriber(
        topics.send,
        group_id="wawp-gateway",
        title=f"{topics.send}:consume",
        description="Message sends (high volume), keyed by instance_id.",
    )
    @broker.publisher(
        topics.results,
        title=f"{topics.results}:publish",
        description="One terminal result per command (or on the command's reply_to topic).",
        schema=Result,
    )
    async def send(command: Command) -> Result:  # pragma: no cover - documentation only
        raise RuntimeError("documentation only")

    @broker.subscriber(
        topics.command,
        group_id="wawp-gateway",
        title=f"{topics.command}:consume",
        description="Every other action (session, auth, chats, groups, ...), keyed by instance_id.",
    )
    async def other(command: Command) -> None:  # pragma: no cover - documentation only
        raise RuntimeError("documentation only")

    outputs: tuple[tuple[str, str, Any], ...] = (
        (topics.dlq, "Original command bytes (tokens redacted) with dlq-* headers.", bytes),
        (
            topics.delivery,
            "Latest WhatsApp ack level of a message the gateway sent, keyed by message_id.",
            DeliveryRecord,
        ),
        (
            topics.state,
            "Internal idempotency changelog, keyed by instance_id + idempotency key.",
            StateRecord,
        ),
        (topics.events, "Wawp webhook bodies, unchanged, keyed by instance_id.", WebhookEnvelope),
        (
            topics.instances,
            "Live instance registry, keyed by instance_id, one partition, compacted: written by "
            "`wawp-gateway instances put|rm` (a null value removes the instance), read to its "
            "end by every worker before its first call and followed. access_token is a secret.",
            InstanceRecord,
        ),
        (
            topics.sessions,
            "Last session status of each instance, keyed by instance_id, compacted: written by "
            "the webhook receiver for every session.status event, followed by every worker.",
            SessionRecord,
        ),
    )
    for topic, description, schema in outputs:
        broker.publisher(topic, title=f"{topic}:publish", description=description, schema=schema)
    return broker


def asyncapi_document(topics: TopicsSettings | None = None) -> dict[str, Any]:
    spec = AsyncAPI(
        _broker(topics or TopicsSettings()),
        title="wawp-gateway",
        version=__version__,
        description="Kafka-native outbound gateway for the Wawp WhatsApp API.",
    )
    document: dict[str, Any] = json.loads(spec.to_specification().to_json())
    return document
