"""Markdown tables from scenario payloads, and the files under ``bench/results/``.

``latest.md`` is rebuilt from every ``<scenario>.json`` present, so running a subset of the
scenarios updates only their sections.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["render", "write"]

_ORDER = (
    "upstream-0ms",
    "upstream-200ms",
    "latency",
    "hot-instance",
    "faults",
    "rss",
    "restore",
    "webhook",
)
_CPU = ("system", "sandbox", "broker", "load", "harness")


def _cpu_cell(m: dict[str, Any], name: str) -> str:
    seconds = m["cpu_s"].get(name)
    if seconds is None:
        return "-"
    window = m["window_s"]
    share = f" ({seconds / window:.0%})" if window > 0 and name != "load" else ""
    return f"{seconds:.2f}{share}"


def _measurements(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| system | done / published | throughput /s | window s | CPU s: system | sandbox "
        "| broker | load client | harness (collector) | RSS peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in rows:
        cpu = " | ".join(_cpu_cell(m, name) for name in _CPU)
        lines.append(
            f"| {m['system']} | {m['completed']:,} / {m['published']:,} "
            f"| {m['throughput']['per_s']:,.1f} | {m['window_s']:.1f} | {cpu} "
            f"| {m['rss_peak_mb']:.0f} |"
        )
    return lines


def _latencies(rows: list[dict[str, Any]]) -> list[str]:
    rows = [m for m in rows if m.get("latency")]
    if not rows:
        return []
    lines = [
        "",
        "| system | rate /s | p50 ms | p90 ms | p99 ms | max ms | receipt p50 ms "
        "| receipt p99 ms | intake p50 ms | intake p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in rows:
        done, seen = m["latency"]["completed_at"], m["latency"]["collector_receipt"]
        intake = m["latency"].get("intake")
        taken = f"{intake['p50_ms']:.1f} | {intake['p99_ms']:.1f}" if intake else "- | -"
        lines.append(
            f"| {m['system']} | {m.get('rate_per_s', 0):,.0f} | {done['p50_ms']:.1f} "
            f"| {done['p90_ms']:.1f} | {done['p99_ms']:.1f} | {done['max_ms']:.1f} "
            f"| {seen['p50_ms']:.1f} | {seen['p99_ms']:.1f} | {taken} |"
        )
    return lines


def _reads(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| reader | records | seconds | records/s | CPU s | broker CPU s | RSS before MB "
        "| RSS after MB | RSS peak MB | keys kept | MB per 100k keys |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rate = r["records"] / r["seconds"] if r["seconds"] > 0 else 0.0
        keys = f"{r['keys']:,}" if "keys" in r else "-"
        per_keys = f"{r['mb_per_100k_keys']:.1f}" if "mb_per_100k_keys" in r else "-"
        lines.append(
            f"| {r['reader']} | {r['records']:,} | {r['seconds']:.2f} | {rate:,.0f} "
            f"| {r['cpu_s']:.2f} | {r['broker_cpu_s']:.2f} | {r['rss_before_mb']:.0f} "
            f"| {r['rss_after_mb']:.0f} | {r['peak_rss_mb']:.0f} | {keys} | {per_keys} |"
        )
    return lines


def _goals(goals: list[dict[str, Any]]) -> list[str]:
    if not goals:
        return []
    lines = ["", "| goal | measured | value | status |", "|---|---|---|---|"]
    for g in goals:
        lines.append(f"| {g['goal']} | {g['detail']} | {g['value']} | **{g['status']}** |")
    return lines


def _checks(checks: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, value in checks.items():
        shown = {k: v for k, v in value.items() if k != "examples"}
        lines.append(f"\n`{name}`: `{json.dumps(shown, separators=(', ', ': '))}`")
        examples = {k: v for k, v in (value.get("examples") or {}).items() if v}
        if examples:
            lines.append(f"\nexamples: `{json.dumps(examples)[:600]}`")
    return lines


def render(payload: dict[str, Any]) -> str:
    lines = [f"### {payload['scenario']}: {payload['title']}", ""]
    if payload.get("error"):
        lines.append(f"**harness error**: `{payload['error']}`")
        return "\n".join(lines) + "\n"
    if payload["measurements"]:
        lines += _measurements(payload["measurements"])
        lines += _latencies(payload["measurements"])
    if payload.get("reads"):
        lines += _reads(payload["reads"])
    lines += _goals(payload["goals"])
    lines += _checks(payload["checks"])
    notes = payload.get("notes") or []
    if notes:
        lines.append("")
        lines += [note if note.startswith("|") else f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def write(results_dir: Path, payload: dict[str, Any]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{payload['scenario']}.json").write_text(json.dumps(payload, indent=2) + "\n")
    sections = []
    for name in _ORDER:
        path = results_dir / f"{name}.json"
        if path.exists():
            data = json.loads(path.read_text())
            sections.append(f"<!-- run {data['run_id']}, {data['finished_at']} -->\n")
            sections.append(render(data))
    header = (
        "## Benchmark (`python -m bench`)\n\n"
        "CPU columns: seconds of CPU during the measured window (share of one core in brackets)."
        " One machine, 2 cores; every process of a scenario shares them.\n\n"
    )
    (results_dir / "latest.md").write_text(header + "\n".join(sections))
