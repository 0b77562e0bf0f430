"""Which dead letters a replay puts back, which it skips and why, and their headers (pure)."""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from wawp_gateway.core.contracts import DlqReason
from wawp_gateway.dlqtool.records import DlqRecord, Filters, select
from wawp_gateway.worker.intake import (
    OVERRIDE_NOT_AFTER_HEADER,
    OVERRIDE_UNKNOWN_HEADER,
    REPLAY_COUNT_HEADER,
)

# A command that failed after three replays needs a fix, not a fourth replay; past it the loop
# guard refuses (docs/contract.md names the guard, not its bound).
DEFAULT_MAX_REPLAYS: Final = 3
# Records per second; replays share the input topics with live traffic.
DEFAULT_RATE: Final = 100.0


class Skip(enum.StrEnum):
    """Why a matching record is not replayed."""

    UNDECODABLE = "undecodable"
    SUPERSEDED = "superseded"
    LOOP_GUARD = "loop_guard"
    OUTCOME_UNKNOWN = "outcome_unknown"
    DEADLINE = "deadline"
    NO_TOPIC = "no_topic"
    LIMIT = "limit"


SKIP_HINTS: Final = {
    Skip.UNDECODABLE: "no usable command id: cannot be replayed",
    Skip.SUPERSEDED: "a later dead letter of the same command exists",
    Skip.LOOP_GUARD: "replayed --max-replays times already (loop guard)",
    Skip.OUTCOME_UNKNOWN: "outcome_unknown: needs --include-unknown",
    Skip.DEADLINE: "expired or past its not_after: needs --ignore-deadline",
    Skip.NO_TOPIC: "no dlq-original-topic header: needs --to-topic",
    Skip.LIMIT: "beyond --limit",
}


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    to_topic: str | None = None
    include_unknown: bool = False
    ignore_deadline: bool = False
    max_replays: int = DEFAULT_MAX_REPLAYS
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """One record to publish."""

    record: DlqRecord
    topic: str
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    read: int
    matched: int
    replays: tuple[Replay, ...]
    skipped: Mapping[Skip, int]

    def by_reason(self) -> dict[str, int]:
        return dict(Counter(r.record.reason for r in self.replays).most_common())

    def by_topic(self) -> dict[str, int]:
        return dict(Counter(r.topic for r in self.replays).most_common())

    def to_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "matched": self.matched,
            "replay": len(self.replays),
            "by_reason": self.by_reason(),
            "by_topic": self.by_topic(),
            "skipped": {skip.value: self.skipped.get(skip, 0) for skip in Skip},
        }


def _latest_of_each_command(records: Iterable[DlqRecord]) -> dict[str, DlqRecord]:
    """A replay that failed again is dead-lettered anew with a higher count; replaying the
    older letter too would only repeat a count the worker has already answered."""
    latest: dict[str, DlqRecord] = {}
    for record in records:
        if record.command_id is None:
            continue
        seen = latest.get(record.command_id)
        if seen is None or (record.replay_count, record.timestamp, record.offset) > (
            seen.replay_count,
            seen.timestamp,
            seen.offset,
        ):
            latest[record.command_id] = record
    return latest


def replay_headers(record: DlqRecord, options: ReplayOptions) -> tuple[tuple[str, bytes], ...]:
    headers = [(REPLAY_COUNT_HEADER, str(record.replay_count + 1).encode())]
    if options.ignore_deadline and (
        record.reason == DlqReason.EXPIRED or record.not_after is not None
    ):
        headers.append((OVERRIDE_NOT_AFTER_HEADER, b"true"))
    if options.include_unknown and record.reason == DlqReason.OUTCOME_UNKNOWN:
        headers.append((OVERRIDE_UNKNOWN_HEADER, b"true"))
    return tuple(headers)


def _skip_of(
    record: DlqRecord, latest: Mapping[str, DlqRecord], options: ReplayOptions, now: datetime
) -> Skip | None:
    if not record.is_decodable or record.command_id is None:
        return Skip.UNDECODABLE
    if latest[record.command_id] is not record:
        return Skip.SUPERSEDED
    if record.replay_count >= options.max_replays:
        return Skip.LOOP_GUARD
    if record.reason == DlqReason.OUTCOME_UNKNOWN and not options.include_unknown:
        return Skip.OUTCOME_UNKNOWN
    past_deadline = record.not_after is not None and record.not_after <= now
    if (record.reason == DlqReason.EXPIRED or past_deadline) and not options.ignore_deadline:
        return Skip.DEADLINE
    if options.to_topic is None and record.original_topic is None:
        return Skip.NO_TOPIC
    return None


def plan_replay(
    records: Sequence[DlqRecord], filters: Filters, options: ReplayOptions, *, now: datetime
) -> ReplayPlan:
    """Which of ``records`` (the whole DLQ) a replay publishes, in order, and what it skips."""
    latest = _latest_of_each_command(records)
    matched = select(records, filters)
    replays: list[Replay] = []
    skipped: Counter[Skip] = Counter()
    for record in matched:
        skip = _skip_of(record, latest, options, now)
        if skip is None and options.limit is not None and len(replays) >= options.limit:
            skip = Skip.LIMIT
        if skip is not None:
            skipped[skip] += 1
            continue
        topic = options.to_topic or record.original_topic
        assert topic is not None  # _skip_of: NO_TOPIC
        replays.append(Replay(record, topic, record.replay_key, replay_headers(record, options)))
    return ReplayPlan(len(records), len(matched), tuple(replays), dict(skipped))


def replay_burst(rate: float) -> int:
    """Records the bucket lets out at once: a tenth of a second's worth (at least one), so a
    high rate needs no sleep per record."""
    return max(1, math.ceil(rate / 10))
