"""Publishing the webhook receiver's events to the broker, and probing that it answers.

``Publish`` is what the receiver needs; ``core.coalesce.KeyedPublisher`` provides it over a
started producer.
``metadata_refreshed`` tells /readyz whether the broker is back after a failed publish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from wawp_gateway.webhook.checks import Headers

__all__ = ["Publish", "PublishFailed", "metadata_refreshed"]

Publish = Callable[[str, bytes, bytes, Headers], "asyncio.Future[None]"]
"""``publish(topic, key, value, headers)``: the acknowledgement as a future, which fails with
PublishFailed or a KafkaError when the broker did not take the record."""

_READINESS_PROBE_S = 2.0


class PublishFailed(Exception):
    """The broker did not take the record (it is safe to answer 503: nothing was stored)."""


async def metadata_refreshed(producer: AIOKafkaProducer) -> bool:
    """Whether the broker answers a metadata request now (bounded: a probe must answer)."""
    try:
        async with asyncio.timeout(_READINESS_PROBE_S):
            return bool(await producer.client.force_metadata_update())
    except (TimeoutError, KafkaError):
        return False
