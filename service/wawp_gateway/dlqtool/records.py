"""One dead letter as read (``DlqRecord``), the time and place arguments, and ``Filters`` (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from wawp_gateway.core.contracts import DlqReason
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.worker.intake import (
    REPLAY_COUNT_HEADER,
)

_REASONS = frozenset(reason.value for reason in DlqReason)
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
# `access_token=...` in text that is not JSON (an error message, an undecodable value).
_TOKEN_IN_TEXT = re.compile(r"""(access_token["']?\s*[:=]\s*["']?)([^"'&\s,;}]+)""")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _count(raw: str | None) -> int:
    """Read as the worker reads it (intake), so the replayed count is the one it expects."""
    # isascii(): str.isdigit() also accepts digits such as "²" that int() refuses.
    if raw is None or not (raw.isascii() and raw.isdigit()):
        return 0
    try:
        return int(raw)
    except ValueError:  # more digits than Python's int conversion limit
        return 0


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def mask_text(text: str) -> str:
    return _TOKEN_IN_TEXT.sub(r"\1***", text)


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """One dead letter as read, with what replay and the filters need parsed out of it."""

    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    reason: str
    error_code: str | None
    replay_count: int
    original_topic: str | None
    command_id: str | None
    instance_id: str | None
    action: str | None
    not_after: datetime | None

    @classmethod
    def from_parts(
        cls,
        *,
        partition: int,
        offset: int,
        timestamp_ms: int,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]],
    ) -> DlqRecord:
        pairs = tuple((name, bytes(raw or b"")) for name, raw in headers)
        text = {name: raw.decode("utf-8", "replace") for name, raw in pairs}
        command: Any = None
        if value is not None:
            try:
                command = json.loads(value)
            except (ValueError, RecursionError):
                command = None
        if not isinstance(command, dict):
            command = {}
        command_id = command.get("id")
        usable_id = isinstance(command_id, str) and 0 < len(command_id) <= 128
        instance_id, action = command.get("instance_id"), command.get("action")
        return cls(
            partition=partition,
            offset=offset,
            timestamp=datetime.fromtimestamp(timestamp_ms / 1000, UTC),
            key=key,
            value=value,
            headers=pairs,
            reason=text.get("dlq-reason", ""),
            error_code=text.get("dlq-error-code"),
            replay_count=_count(text.get(REPLAY_COUNT_HEADER)),
            original_topic=text.get("dlq-original-topic") or None,
            command_id=command_id if usable_id else None,
            instance_id=instance_id if isinstance(instance_id, str) and instance_id else None,
            action=action if isinstance(action, str) and action else None,
            not_after=_aware(command.get("not_after")),
        )

    @property
    def where(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def is_decodable(self) -> bool:
        return self.command_id is not None and self.reason != DlqReason.UNDECODABLE

    @property
    def replay_key(self) -> bytes | None:
        """Keyed by instance (docs/contract.md), else as the dead letter was."""
        return self.instance_id.encode() if self.instance_id else self.key

    def header(self, name: str) -> str | None:
        for key, raw in self.headers:
            if key == name:
                return raw.decode("utf-8", "replace")
        return None


def parse_moment(text: str, *, now: datetime, flag: str = "--since") -> datetime:
    """ISO-8601 (UTC when no offset is given) or a span back from ``now``: ``90s``, ``15m``,
    ``2h``, ``3d``, ``1w``."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2)
        return now - timedelta(seconds=amount * _UNITS[unit])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            flag, f"expected an ISO-8601 time or a span such as 30m, 2h, 1d; got {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_where(text: str) -> tuple[int, int]:
    """``PARTITION:OFFSET`` as ``ls`` prints it."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ConfigError("show", f"expected PARTITION:OFFSET (as ls prints it), got {text!r}")
    return int(partition), int(offset)


def _names(values: Iterable[str]) -> frozenset[str]:
    """Repeated flags and comma lists alike: ``--reason a --reason b,c``."""
    return frozenset(part.strip() for value in values for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Filters:
    """What ``ls``, ``replay`` and ``show --command-id`` select; empty sets select everything.
    Times compare with the moment the record was dead-lettered (its Kafka timestamp)."""

    reasons: frozenset[str] = frozenset()
    instances: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    command_ids: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(
        cls,
        *,
        reasons: Iterable[str] = (),
        instances: Iterable[str] = (),
        actions: Iterable[str] = (),
        command_ids: Iterable[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Filters:
        wanted = _names(reasons)
        unknown = sorted(wanted - _REASONS)
        if unknown:
            raise ConfigError(
                "--reason", f"unknown {', '.join(unknown)}; one of {', '.join(sorted(_REASONS))}"
            )
        return cls(wanted, _names(instances), _names(actions), _names(command_ids), since, until)

    def matches(self, record: DlqRecord) -> bool:
        return (
            (not self.reasons or record.reason in self.reasons)
            and (not self.instances or record.instance_id in self.instances)
            and (not self.actions or record.action in self.actions)
            and (not self.command_ids or record.command_id in self.command_ids)
            and (self.since is None or record.timestamp >= self.since)
            and (self.until is None or record.timestamp < self.until)
        )


def select(records: Iterable[DlqRecord], filters: Filters) -> list[DlqRecord]:
    """The matching records, oldest first (partition and offset break ties)."""
    return sorted(
        (r for r in records if filters.matches(r)),
        key=lambda r: (r.timestamp, r.partition, r.offset),
    )
