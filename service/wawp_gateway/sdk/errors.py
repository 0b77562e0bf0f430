"""What the SDK raises on purpose, under the gateway's own root so one ``except GatewayError``
covers both.

    GatewayError
    └── SdkError
        ├── InvalidCommand       refused before publishing: the gateway would reject it too
        ├── UnknownTopic         a topic to read from does not exist
        ├── RequestTimeout       no result within the request's timeout (the command may still run)
        ├── DeliveryTimeout      the message did not reach the ack level in time
        ├── DeliveryFailed       WhatsApp reported the message failed (ack ERROR)
        └── ClientClosed         the client stopped while a call was waiting on it
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wawp_gateway.core.errors import GatewayError

if TYPE_CHECKING:
    from wawp_gateway.core.contracts import DeliveryRecord

__all__ = [
    "ClientClosed",
    "DeliveryFailed",
    "DeliveryTimeout",
    "InvalidCommand",
    "RequestTimeout",
    "SdkError",
    "UnknownTopic",
]


class SdkError(GatewayError):
    """Root of the SDK's errors."""


class InvalidCommand(SdkError, ValueError):
    """A command the gateway would answer ``rejected``; ``code`` is the error code it would give
    (``invalid_params``, ``unknown_action``, ``invalid_command``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UnknownTopic(SdkError):
    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist")
        self.topic = topic


class RequestTimeout(SdkError, TimeoutError):
    """No result arrived in time. The command was (probably) published and may still be
    executed: look for its result later (it has exactly one), or send a new command with the
    same idempotency key, which the gateway answers ``duplicate`` instead of sending twice. The
    same command again (same id) is answered only if it never finished."""

    def __init__(self, command_id: str, timeout_s: float) -> None:
        super().__init__(f"no result for command {command_id} within {timeout_s:g} s")
        self.command_id = command_id
        self.timeout_s = timeout_s


class DeliveryTimeout(SdkError, TimeoutError):
    def __init__(self, command_id: str, until: str, timeout_s: float) -> None:
        super().__init__(f"command {command_id} did not reach {until} within {timeout_s:g} s")
        self.command_id = command_id
        self.until = until
        self.timeout_s = timeout_s


class DeliveryFailed(SdkError):
    """WhatsApp acknowledged the message with ERROR: it will not be delivered."""

    def __init__(self, record: DeliveryRecord) -> None:
        super().__init__(f"message {record.message_id} failed (ack ERROR)")
        self.record = record


class ClientClosed(SdkError):
    def __init__(self) -> None:
        super().__init__("the gateway client is closed")
