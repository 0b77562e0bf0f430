"""WhatsApp ack levels of delivery records, by name or number (``wawp/webhooks.json``). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from wawp_gateway.core.contracts import DeliveryRecord

__all__ = ["ACK_LEVELS", "AckName", "ack_level", "has_failed", "has_reached"]

AckName = Literal["PENDING", "SERVER", "DEVICE", "READ", "PLAYED"]

ACK_LEVELS: Mapping[str, int] = MappingProxyType(
    {"ERROR": -1, "PENDING": 0, "SERVER": 1, "DEVICE": 2, "READ": 3, "PLAYED": 4}
)


def ack_level(level: AckName | int) -> int:
    """``"READ"`` -> 3; numbers pass through."""
    if isinstance(level, int):
        return level
    try:
        return ACK_LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown ack level {level!r}") from None


def has_reached(record: DeliveryRecord, level: AckName | int) -> bool:
    """Whether the message got at least to ``level`` (PLAYED counts as READ, READ as DEVICE...).
    An ``ack_timeout`` record reports the last level reached, so it counts like any other."""
    wanted = ack_level(level)
    return wanted >= 0 and record.ack >= wanted


def has_failed(record: DeliveryRecord) -> bool:
    """ERROR is final: the message will not be delivered."""
    return record.ack == ACK_LEVELS["ERROR"]
