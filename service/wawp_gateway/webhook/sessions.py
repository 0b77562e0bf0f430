"""The ``wawp.sessions`` record of a ``session.status`` event.

docs/contract.md "Held instances": the receiver writes the status of every
``session.status`` event, keyed by instance, acknowledged together with the event itself; the
workers hold an instance's commands while its last status is not ``WORKING``. An event whose
status is missing or unknown is still published on the events topic; it just writes no status
(the instance keeps its last one), and a log line says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from pydantic import ValidationError

from wawp_gateway.core.contracts import SessionRecord
from wawp_gateway.webhook.checks import WebhookEvent

__all__ = ["session_record"]

log = structlog.get_logger(__name__)

# Wawp stamps events in Unix milliseconds; anything outside these years is not a timestamp.
_EARLIEST_MS = 946_684_800_000  # 2000-01-01
_LATEST_MS = 4_102_444_800_000  # 2100-01-01


def session_record(event: WebhookEvent, received_at: datetime) -> bytes | None:
    """The record's value, or None when the event carries no status the gateway knows."""
    try:
        record = SessionRecord(
            instance_id=event.instance,
            status=event.status,
            at=_reported_at(event.timestamp) or received_at,
            event_id=event.event_id,
        )
    except ValidationError as exc:
        log.warning(
            "session_status.skipped",
            instance_id=event.instance,
            event_id=event.event_id,
            why="; ".join(str(e["msg"]) for e in exc.errors())[:200],
        )
        return None
    return record.to_bytes()


def _reported_at(timestamp: object) -> datetime | None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    if not _EARLIEST_MS <= timestamp < _LATEST_MS:
        return None
    return datetime.fromtimestamp(timestamp / 1000, UTC)
