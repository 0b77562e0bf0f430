"""The text and JSON renderings of listings, records, plans and reports (pure)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wawp_gateway.dlqtool.plan import SKIP_HINTS, ReplayOptions, ReplayPlan, Skip
from wawp_gateway.dlqtool.records import DlqRecord, mask_text, rfc3339
from wawp_gateway.worker.dlq import redact_tokens


def thousands(count: int) -> str:
    return f"{count:,}"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {thousands(count)}" for name, count in counts.items()) or "none"


def _row(record: DlqRecord) -> dict[str, Any]:
    return {
        "where": record.where,
        "partition": record.partition,
        "offset": record.offset,
        "dead_lettered_at": rfc3339(record.timestamp),
        "reason": record.reason,
        "error_code": record.error_code,
        "error_message": mask_text(record.header("dlq-error-message") or ""),
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
            rfc3339(r.timestamp),
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
    showing = f"; showing {thousands(len(shown))}" if len(shown) < len(matched) else ""
    lines.append(f"{thousands(len(matched))} of {thousands(read)} records match{showing}")
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
        return mask_text(cleaned.decode("utf-8", "replace"))


def record_json(topic: str, record: DlqRecord) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": rfc3339(record.timestamp),
        "key": mask_text(record.key.decode("utf-8", "replace")) if record.key else None,
        "headers": {
            name: mask_text(raw.decode("utf-8", "replace")) for name, raw in record.headers
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
        f"{thousands(plan.read)} records read, {thousands(plan.matched)} match the filters",
        f"{verb}: {thousands(len(plan.replays))}",
        f"  by reason: {_counts(plan.by_reason())}",
        f"  to topic: {_counts(plan.by_topic())}",
        f"skipped: {thousands(sum(plan.skipped.values()))}",
    ]
    for skip in Skip:
        count = plan.skipped.get(skip, 0)
        if count:
            hint = SKIP_HINTS[skip].replace("--max-replays", f"--max-replays={options.max_replays}")
            lines.append(f"  {skip.value}: {thousands(count)} ({hint})")
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
    lines = [f"published: {thousands(report.published)} in {report.seconds:.1f} s{rate}"]
    if report.failed or report.not_attempted:
        lines.append(
            f"failed: {thousands(report.failed)}, not attempted: {thousands(report.not_attempted)} "
            f"({_counts(report.errors)})"
        )
    return lines
