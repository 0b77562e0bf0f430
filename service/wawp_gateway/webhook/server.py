"""The webhook receiver's process: its port, its producer and its app under uvicorn.

``running_webhook`` serves for a block (tests, ``wawp-gateway dev``); ``run_webhook`` serves
until told to stop (``wawp-gateway webhook``). Leaving either stops uvicorn gracefully, then
the producer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import get_args

import structlog
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from wawp_gateway.core.coalesce import KeyedPublisher
from wawp_gateway.core.config import ReceiverSettings
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.kafka import build_producer, start_client
from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.runtime import tune_gc
from wawp_gateway.core.serving import bind, serving
from wawp_gateway.webhook.app import WebhookReceiver
from wawp_gateway.webhook.checks import Outcome, check_auth_configured
from wawp_gateway.webhook.publisher import metadata_refreshed

__all__ = ["run_webhook", "running_webhook"]

log = structlog.get_logger(__name__)


def _refused(host: str, port: int, error: OSError) -> Exception:
    return ConfigError("GATEWAY_WEBHOOK__PORT", f"cannot listen on {host}:{port}: {error.strerror}")


@contextlib.asynccontextmanager
async def running_webhook(
    settings: ReceiverSettings, registry: CollectorRegistry | None = None
) -> AsyncIterator[tuple[int, WebhookReceiver]]:
    """Producer + receiver + server for the block; yields the bound port and the receiver."""
    check_auth_configured(settings.webhook)
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    metrics.start_webhook_series(get_args(Outcome))
    sock = bind(settings.webhook.host, settings.webhook.port, _refused)
    # Each request waits for its own acknowledgement, so lingering only adds latency: records
    # that arrive while a produce request is in flight batch up on their own (measured in
    # bench: linger 5 ms -> 4.9k/s, 0 -> 9.8k/s at 64 concurrent posts).
    producer = build_producer(settings.kafka, linger_ms=settings.webhook.linger_ms)
    try:
        try:
            await start_client(producer, settings.kafka)
        except KafkaConnectionError:
            raise ConfigError(
                "GATEWAY_KAFKA__BOOTSTRAP_SERVERS",
                f"cannot reach Kafka at {settings.kafka.bootstrap_servers}",
            ) from None
        receiver = WebhookReceiver(
            settings.webhook,
            settings.topics.events,
            KeyedPublisher(producer),
            metrics,
            reach_broker=lambda: metadata_refreshed(producer),
            sessions_topic=settings.topics.sessions,
        )
        # Client addresses are not used, so proxy headers are not read either.
        async with serving(receiver, sock, name="webhook server", proxy_headers=False):
            port = int(sock.getsockname()[1])
            log.info("webhook.listening", host=settings.webhook.host, port=port)
            yield port, receiver
    finally:
        await producer.stop()
        sock.close()


async def run_webhook(settings: ReceiverSettings, stopping: asyncio.Event) -> None:
    """``wawp-gateway webhook``: serve until ``stopping`` is set."""
    async with running_webhook(settings):
        tune_gc()
        await stopping.wait()
