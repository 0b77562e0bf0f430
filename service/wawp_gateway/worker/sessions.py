"""The last session status of every instance, as the worker follows it on ``wawp.sessions``.

The webhook receiver writes one record per ``session.status`` event, keyed by instance; the
worker reads the topic from the beginning before its first call and follows it
(docs/contract.md "Held instances"). An instance whose last status is
``STOPPED``, ``STARTING``, ``SCAN_QR_CODE`` or ``FAILED`` is held: its commands but session and
auth ones wait in their lanes. No record (or a tombstone) means working.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import structlog

from wawp_gateway.core.contracts import SessionRecord, SessionStatus
from wawp_gateway.core.metrics import Metrics

__all__ = ["HOLDING_STATUSES", "SESSION_STATUSES", "SessionBook", "decode_session"]

log = structlog.get_logger(__name__)

SESSION_STATUSES = tuple(status.value for status in SessionStatus)
HOLDING_STATUSES = frozenset(SESSION_STATUSES) - {SessionStatus.WORKING.value}
_OTHER = "other"  # a status Wawp may add later: counted, and not held (the safe default)

Listener = Callable[[str, str | None], None]


class SessionBook:
    """Statuses by instance; ``apply`` is the follower's callback. Listeners hear every change
    (instance, new status or None) on the event loop, in topic order."""

    def __init__(self, decode: Callable[[bytes], tuple[str, str]] | None = None) -> None:
        """``decode`` reads a record value as (instance_id, status) (``decode_session`` by
        default); it raises ``ValueError`` for a value that is not one."""
        self._decode = decode or decode_session
        self._status: dict[str, str] = {}
        self._counts: Counter[str] = Counter()
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Tell ``listener`` every change from now on; returns what stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def status_of(self, instance_id: str) -> str | None:
        return self._status.get(instance_id)

    def is_down(self, instance_id: str) -> bool:
        """Whether the instance's last status holds its commands."""
        return self._status.get(instance_id) in HOLDING_STATUSES

    def count(self, status: str) -> int:
        """Instances whose last status is ``status`` (``other``: any status not listed)."""
        return self._counts[status]

    def apply(self, key: str, value: bytes | None) -> None:
        """One record of the topic: a status, or a tombstone (the instance counts as working)."""
        if value is None:
            self._set(key, None)
            return
        try:
            instance_id, status = self._decode(value)
        except ValueError as exc:
            # Skipped, not fatal: the topic is the gateway's own, but a bad record must not
            # stop every worker from reading the records after it.
            log.warning("session_record.skipped", instance_id=key, why=str(exc)[:200])
            return
        if instance_id != key:
            log.warning("session_record.skipped", instance_id=key, why="key is not its instance")
            return
        self._set(key, status)

    def _set(self, instance_id: str, status: str | None) -> None:
        previous = self._status.get(instance_id)
        if status == previous:
            return
        if previous is not None:
            self._counts[_label(previous)] -= 1
        if status is None:
            del self._status[instance_id]
        else:
            self._status[instance_id] = status
            self._counts[_label(status)] += 1
        was_down, down = previous in HOLDING_STATUSES, status in HOLDING_STATUSES
        if down and not was_down:
            log.info("instance.held", instance_id=instance_id, status=status)
        elif was_down and not down:
            log.info("instance.released", instance_id=instance_id, status=status or "none")
        for listener in self._listeners:
            listener(instance_id, status)

    def watch(self, metrics: Metrics) -> None:
        """``gateway_instance_sessions{status}``, read at scrape time (bounded labels)."""

        def counted(status: str) -> Callable[[], float]:
            return lambda: float(self._counts[status])

        for status in (*SESSION_STATUSES, _OTHER):
            metrics.instance_sessions.labels(status).set_function(counted(status))


def decode_session(value: bytes) -> tuple[str, str]:
    """A ``wawp.session.v1`` value as (instance_id, status); ``ValueError`` (pydantic's
    ``ValidationError`` is one) for anything else."""
    record = SessionRecord.model_validate_json(value)
    return record.instance_id, str(record.status)


def _label(status: str) -> str:
    return status if status in SESSION_STATUSES else _OTHER
