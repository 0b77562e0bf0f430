"""``wawp-gateway dlq``: list, show and replay the dead letters of ``wawp.dlq``.

The first half is pure: ``DlqRecord`` (one dead letter as read), ``Filters``, ``plan_replay``
(which records go back, which are skipped and why) and the text and JSON renderings. The second
half does the Kafka I/O: ``read_dlq`` reads every partition up to the high watermark its first
fetch reported (the embedded broker's ``end_offsets`` is wrong after multi-record batches,
BROKER.md), ``read_one`` reads a single record, and ``publish`` replays a plan through a token
bucket with acks=all.

Replay follows ARCHITECTURE.md "Idempotency and replay": each record's value goes to its
``dlq-original-topic`` (or ``--to-topic``), keyed by instance, with ``dlq-replay-count`` one above
the record's. The worker executes failed commands anew; a second replay of the same records
repeats the same count, so the worker answers those from its state without sending anything.
"""

from __future__ import annotations

import asyncio
import enum
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from wawp_gateway.config import KafkaSettings
from wawp_gateway.contracts import DlqReason
from wawp_gateway.dlq import redact_tokens
from wawp_gateway.errors import ConfigError
from wawp_gateway.intake import (
    OVERRIDE_NOT_AFTER_HEADER,
    OVERRIDE_UNKNOWN_HEADER,
    REPLAY_COUNT_HEADER,
)
from wawp_gateway.kafka import build_producer, build_reader, topic_partitions
from wawp_gateway.ratelimit import TokenBucket

__all__ = [
    "DEFAULT_MAX_REPLAYS",
    "DEFAULT_RATE",
    "DlqRecord",
    "Filters",
    "Progress",
    "Replay",
    "ReplayOptions",
    "ReplayPlan",
    "ReplayReport",
    "Skip",
    "format_plan",
    "format_record",
    "format_report",
    "format_table",
    "list_json",
    "parse_moment",
    "parse_where",
    "plan_replay",
    "publish",
    "read_dlq",
    "read_one",
    "record_json",
    "replay_burst",
    "replay_headers",
    "select",
]

# A command that failed after three replays needs a fix, not a fourth replay; past it the loop
# guard refuses (ARCHITECTURE.md names the guard, not its bound).
DEFAULT_MAX_REPLAYS: Final = 3
# Records per second; replays share the input topics with live traffic.
DEFAULT_RATE: Final = 100.0

_REASONS = frozenset(reason.value for reason in DlqReason)
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
# `access_token=...` in text that is not JSON (an error message, an undecodable value).
_TOKEN_IN_TEXT = re.compile(r"""(access_token["']?\s*[:=]\s*["']?)([^"'&\s,;}]+)""")


class Skip(enum.StrEnum):
    """Why a matching record is not replayed."""

    UNDECODABLE = "undecodable"
    SUPERSEDED = "superseded"
    LOOP_GUARD = "loop_guard"
    OUTCOME_UNKNOWN = "outcome_unknown"
    DEADLINE = "deadline"
    NO_TOPIC = "no_topic"
    LIMIT = "limit"


_SKIP_HINTS: Final = {
    Skip.UNDECODABLE: "no usable command id: cannot be replayed",
    Skip.SUPERSEDED: "a later dead letter of the same command exists",
    Skip.LOOP_GUARD: "replayed --max-replays times already (loop guard)",
    Skip.OUTCOME_UNKNOWN: "outcome_unknown: needs --include-unknown",
    Skip.DEADLINE: "expired or past its not_after: needs --ignore-deadline",
    Skip.NO_TOPIC: "no dlq-original-topic header: needs --to-topic",
    Skip.LIMIT: "beyond --limit",
}


# --- pure: records, filters, plans ------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
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


def _mask_text(text: str) -> str:
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
        """Keyed by instance (ARCHITECTURE.md), else as the dead letter was."""
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


# --- pure: renderings -------------------------------------------------------------------------


def _n(count: int) -> str:
    return f"{count:,}"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {_n(count)}" for name, count in counts.items()) or "none"


def _row(record: DlqRecord) -> dict[str, Any]:
    return {
        "where": record.where,
        "partition": record.partition,
        "offset": record.offset,
        "dead_lettered_at": _rfc3339(record.timestamp),
        "reason": record.reason,
        "error_code": record.error_code,
        "error_message": _mask_text(record.header("dlq-error-message") or ""),
        "instance_id": record.instance_id,
        "action": record.action,
        "command_id": record.command_id,
        "replay_count": record.replay_count,
        "original_topic": record.original_topic,
    }


def _by_reason(records: Iterable[DlqRecord]) -> dict[str, int]:
    return dict(Counter(r.reason for r in records).most_common())


def format_table(read: int, matched: Sequence[DlqRecord], *, limit: int | None = None) -> list[str]:
    """``ls``: one line per record (up to ``limit``), then the counts by reason."""
    shown = matched[:limit] if limit is not None else matched
    columns = (
        "WHERE",
        "DEAD-LETTERED AT",
        "REASON",
        "CODE",
        "INSTANCE",
        "ACTION",
        "REPLAYS",
        "COMMAND ID",
    )
    rows = [
        (
            r.where,
            _rfc3339(r.timestamp),
            r.reason,
            r.error_code or "-",
            r.instance_id or "-",
            r.action or "-",
            str(r.replay_count),
            r.command_id or "-",
        )
        for r in shown
    ]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = []
    if rows:
        lines.append(line(columns))
        lines.extend(line(row) for row in rows)
        lines.append("")
    showing = f"; showing {_n(len(shown))}" if len(shown) < len(matched) else ""
    lines.append(f"{_n(len(matched))} of {_n(read)} records match{showing}")
    lines.append(f"by reason: {_counts(_by_reason(matched))}")
    return lines


def list_json(
    topic: str, read: int, matched: Sequence[DlqRecord], *, limit: int | None = None
) -> dict[str, Any]:
    shown = matched[:limit] if limit is not None else matched
    return {
        "topic": topic,
        "read": read,
        "matched": len(matched),
        "by_reason": _by_reason(matched),
        "records": [_row(r) for r in shown],
    }


def _masked_value(value: bytes | None) -> Any:
    """The value as JSON when it is JSON, else as text; tokens masked either way (the worker
    redacts at write time; a record written by anything else might not be)."""
    if value is None:
        return None
    cleaned, _ = redact_tokens(value)
    try:
        return json.loads(cleaned)
    except (ValueError, RecursionError):
        return _mask_text(cleaned.decode("utf-8", "replace"))


def record_json(topic: str, record: DlqRecord) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": _rfc3339(record.timestamp),
        "key": _mask_text(record.key.decode("utf-8", "replace")) if record.key else None,
        "headers": {
            name: _mask_text(raw.decode("utf-8", "replace")) for name, raw in record.headers
        },
        "value": _masked_value(record.value),
    }


def format_record(topic: str, record: DlqRecord) -> list[str]:
    """``show``: where, headers, then the value (indented JSON when it is JSON)."""
    data = record_json(topic, record)
    lines = [
        f"{topic} {record.where}  dead-lettered {data['timestamp']}",
        f"key: {data['key'] if data['key'] is not None else '(none)'}",
        "headers:",
    ]
    width = max((len(name) for name in data["headers"]), default=0)
    lines.extend(f"  {name.ljust(width)}  {value}" for name, value in data["headers"].items())
    lines.append("value:")
    value = data["value"]
    if value is None:
        lines.append("  (none)")
    elif isinstance(value, str) and not record.is_decodable:
        lines.append(f"  {value!r}" if len(value) <= 4096 else f"  {value[:4096]!r}...")
    else:
        lines.extend(
            "  " + line for line in json.dumps(value, indent=2, ensure_ascii=False).splitlines()
        )
    return lines


def format_plan(plan: ReplayPlan, options: ReplayOptions, *, dry_run: bool) -> list[str]:
    verb = "would replay" if dry_run else "to replay"
    lines = [
        f"{_n(plan.read)} records read, {_n(plan.matched)} match the filters",
        f"{verb}: {_n(len(plan.replays))}",
        f"  by reason: {_counts(plan.by_reason())}",
        f"  to topic: {_counts(plan.by_topic())}",
        f"skipped: {_n(sum(plan.skipped.values()))}",
    ]
    for skip in Skip:
        count = plan.skipped.get(skip, 0)
        if count:
            hint = _SKIP_HINTS[skip].replace(
                "--max-replays", f"--max-replays={options.max_replays}"
            )
            lines.append(f"  {skip.value}: {_n(count)} ({hint})")
    return lines


@dataclass(slots=True)
class ReplayReport:
    planned: int
    published: int = 0
    failed: int = 0
    not_attempted: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.not_attempted == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "failed": self.failed,
            "not_attempted": self.not_attempted,
            "seconds": round(self.seconds, 3),
            "rate": round(self.published / self.seconds, 1) if self.seconds > 0 else None,
            "errors": dict(self.errors),
        }


def format_report(report: ReplayReport) -> list[str]:
    data = report.to_json()
    rate = f" ({data['rate']:,}/s)" if data["rate"] else ""
    lines = [f"published: {_n(report.published)} in {report.seconds:.1f} s{rate}"]
    if report.failed or report.not_attempted:
        lines.append(
            f"failed: {_n(report.failed)}, not attempted: {_n(report.not_attempted)} "
            f"({_counts(report.errors)})"
        )
    return lines


# --- I/O --------------------------------------------------------------------------------------


class Progress:
    """A bar redrawn in place on a terminal; elsewhere (logs, pipes) a line every few seconds."""

    _BAR = 30

    def __init__(
        self, total: int, out: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._total = total
        self._out = out or sys.stderr
        self._tty = self._out.isatty()
        self._clock = clock
        self._started = clock()
        self._shown_at = -math.inf
        self._interval = 0.1 if self._tty else 5.0

    def update(self, done: int, *, final: bool = False) -> None:
        now = self._clock()
        if not final and now - self._shown_at < self._interval:
            return
        self._shown_at = now
        elapsed = max(now - self._started, 1e-9)
        share = done / self._total if self._total else 1.0
        rate = done / elapsed
        if self._tty:
            filled = round(share * self._BAR)
            bar = "#" * filled + "-" * (self._BAR - filled)
            end = "\n" if final else ""
            self._out.write(
                f"\r[{bar}] {_n(done)}/{_n(self._total)} {share:4.0%} {rate:,.0f}/s{end}"
            )
        else:
            self._out.write(f"replayed {_n(done)}/{_n(self._total)} ({share:.0%}), {rate:,.0f}/s\n")
        self._out.flush()


def _record_of(message: Any) -> DlqRecord:
    return DlqRecord.from_parts(
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=message.timestamp,
        key=message.key,
        value=message.value,
        headers=message.headers or (),
    )


async def _reader(kafka: KafkaSettings, topic: str) -> tuple[AIOKafkaConsumer, set[int]]:
    """A started group-less consumer and the partitions of ``topic`` (which must exist)."""
    consumer = build_reader(kafka)
    try:
        await consumer.start()
    except KafkaError:
        await consumer.stop()
        raise
    # Let the consumer's own background task start: stopped before it ever ran, aiokafka's
    # stop() raises CancelledError (a missing topic stops it at once).
    await asyncio.sleep(0)
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer.stop()
        raise ConfigError("--topic", f"topic {topic!r} does not exist")
    return consumer, set(partitions)


async def read_dlq(kafka: KafkaSettings, topic: str, *, timeout_s: float) -> list[DlqRecord]:
    """Every record of every partition of ``topic`` up to the high watermark the first fetch of
    that partition reported (records dead-lettered while reading are left for the next run)."""
    consumer, partitions = await _reader(kafka, topic)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[TopicPartition, int] = {}
        records: list[DlqRecord] = []
        pending = set(tps)
        async with asyncio.timeout(timeout_s):
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=200, max_records=10_000)
                for tp in list(pending):
                    if tp not in ends:
                        highwater = consumer.highwater(tp)
                        if highwater is None:
                            continue  # no fetch answered for it yet
                        ends[tp] = highwater
                    end = ends[tp]
                    records.extend(_record_of(m) for m in batch.get(tp, ()) if m.offset < end)
                    if await consumer.position(tp) >= end:
                        pending.discard(tp)
        return records
    finally:
        await consumer.stop()


async def read_one(
    kafka: KafkaSettings, topic: str, partition: int, offset: int, *, timeout_s: float
) -> DlqRecord | None:
    """The record at ``partition:offset``, or None when there is none."""
    consumer, partitions = await _reader(kafka, topic)
    try:
        if partition not in partitions:
            return None
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        async with asyncio.timeout(timeout_s):
            while True:
                batch = await consumer.getmany(tp, timeout_ms=200, max_records=1)
                for message in batch.get(tp, ()):
                    return _record_of(message) if message.offset == offset else None
                highwater = consumer.highwater(tp)
                if highwater is not None and highwater <= offset:
                    return None
    finally:
        await consumer.stop()


async def publish(
    kafka: KafkaSettings,
    plan: ReplayPlan,
    *,
    rate: float | None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayReport:
    """Publish ``plan``'s records in order, at most ``rate`` a second (None: unpaced), each
    acknowledged by every in-sync replica. Stops sending after the first failed publish."""
    report = ReplayReport(planned=len(plan.replays))
    if not plan.replays:
        return report
    targets = sorted({replay.topic for replay in plan.replays})
    existing = await topic_partitions(kafka, targets)
    missing = [t for t in targets if t not in existing]
    if missing:
        raise ConfigError("dlq replay", f"target topic(s) do not exist: {', '.join(missing)}")
    producer = build_producer(kafka)
    try:
        await producer.start()
    except KafkaError:
        await producer.stop()
        raise
    started = clock()
    bucket = TokenBucket(rate * 60, replay_burst(rate), started, full=True) if rate else None
    acked: list[asyncio.Future[Any]] = []
    failing = asyncio.Event()

    def settled(future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            failing.set()
            exc = future.exception() if not future.cancelled() else None
            report.failed += 1
            report.errors[type(exc).__name__ if exc else "cancelled"] += 1
        else:
            report.published += 1
        if progress is not None:
            progress.update(report.published + report.failed)

    try:
        for index, replay in enumerate(plan.replays):
            if failing.is_set():
                report.not_attempted = len(plan.replays) - index
                break
            if bucket is not None:
                now = clock()
                wait = bucket.wait_time(now)
                if wait > 0:
                    await asyncio.sleep(wait)
                bucket.take(max(clock(), now + wait))
            try:
                future = await producer.send(
                    replay.topic,
                    replay.record.value,
                    key=replay.key,
                    headers=list(replay.headers),
                )
            except KafkaError as exc:
                report.failed += 1
                report.errors[type(exc).__name__] += 1
                failing.set()
                continue
            future.add_done_callback(settled)
            acked.append(future)
        await asyncio.gather(*acked, return_exceptions=True)
    finally:
        await producer.stop()
    report.seconds = clock() - started
    if progress is not None:
        progress.update(report.published + report.failed, final=True)
    return report
