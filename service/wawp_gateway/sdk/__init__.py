"""The producer SDK: build validated commands for every catalog action, publish them, await
their results and follow their delivery. ``docs/producer-guide.md`` shows it in use.

    from wawp_gateway.sdk import Actions, GatewayClient

    async with GatewayClient("127.0.0.1:9092") as gw:
        wawp = Actions("ABC123DEF456")
        cmd = wawp.send_image(
            chatId="447441429009",
            file={"url": "https://example.com/a.png", "mimetype": "image/png", "filename": "a.png"},
            caption="Your receipt",
            idempotency_key="order-42-receipt",
        )
        result = await gw.request(cmd, timeout_s=30)

On FastStream: ``wawp_gateway.sdk.faststream`` (publishers and typed subscribers on a broker).
"""

from __future__ import annotations

from wawp_gateway.core.contracts import (
    Command,
    DeliveryRecord,
    ErrorInfo,
    Result,
    ResultStatus,
    WebhookEnvelope,
)
from wawp_gateway.core.sections import TopicsSettings
from wawp_gateway.sdk.acks import ACK_LEVELS, AckName, ack_level, has_failed, has_reached
from wawp_gateway.sdk.actions import METHODS, Actions
from wawp_gateway.sdk.client import GatewayClient
from wawp_gateway.sdk.commands import command
from wawp_gateway.sdk.errors import (
    ClientClosed,
    DeliveryFailed,
    DeliveryTimeout,
    InvalidCommand,
    RequestTimeout,
    SdkError,
    UnknownTopic,
)
from wawp_gateway.sdk.events import WawpEvent
from wawp_gateway.sdk.reader import Start
from wawp_gateway.sdk.results import LatestResults
from wawp_gateway.sdk.routing import Published, encode_command, topic_for
from wawp_gateway.sdk.shapes import MediaFile, Poll
from wawp_gateway.sdk.subscription import Subscription

__all__ = [
    "ACK_LEVELS",
    "METHODS",
    "AckName",
    "Actions",
    "ClientClosed",
    "Command",
    "DeliveryFailed",
    "DeliveryRecord",
    "DeliveryTimeout",
    "ErrorInfo",
    "GatewayClient",
    "InvalidCommand",
    "LatestResults",
    "MediaFile",
    "Poll",
    "Published",
    "RequestTimeout",
    "Result",
    "ResultStatus",
    "SdkError",
    "Start",
    "Subscription",
    "TopicsSettings",
    "UnknownTopic",
    "WawpEvent",
    "WebhookEnvelope",
    "ack_level",
    "command",
    "encode_command",
    "has_failed",
    "has_reached",
    "topic_for",
]
