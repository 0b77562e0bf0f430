"""Wawp webhook events as the gateway republishes them on the events topic. Pure.

The record value is the webhook body byte for byte (``wawp/webhooks.json`` "envelope"); the
gateway adds headers ``wawp-event``, ``wawp-event-id`` and ``wawp-instance`` and keys the record
by instance. Events are at-least-once, so consumers de-duplicate on the event id.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from wawp_gateway.core.contracts import WebhookEnvelope

__all__ = ["EventIds", "WawpEvent", "header"]


class WawpEvent(WebhookEnvelope):
    """A Wawp webhook body (the events topic's contract, unknown fields kept in ``model_extra``)
    plus ``instance_id``: the instance the gateway filed it under (header ``wawp-instance``).
    ``session`` is what Wawp put in the body, which its examples show as a placeholder."""

    instance_id: str | None = None


def header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> str | None:
    """The first value of header ``name``, decoded; None when absent or not UTF-8."""
    for key, value in headers or ():
        if key == name:
            try:
                return value.decode()
            except UnicodeDecodeError:
                return None
    return None


class EventIds:
    """Event ids seen lately (the most recent ``capacity``): re-deliveries are recognised."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[tuple[str | None, str], None] = OrderedDict()
        self._capacity = capacity

    def is_new(self, instance_id: str | None, event_id: str) -> bool:
        """True the first time (``instance_id``, ``event_id``) is offered."""
        key = (instance_id, event_id)
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True
