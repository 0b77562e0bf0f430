"""``python -m bench.ab``: the same scenario for several gateway builds, taking turns.

    python -m bench.ab SYSTEM [SYSTEM ...] [--scenario upstream-0ms|latency] [--rounds 3]
                       [--commands 40000] [--rate 1432] [--duration 15] [--profile]
                       [--kafka-rtt | --loop-census]

A SYSTEM is ``NAME=DIR`` (the gateway with the ``wawp_gateway`` package found in ``DIR``, such
as another checkout's ``service/``), ``NAME=installed`` (the gateway as installed), or one of
the baselines ``raw`` and ``write-ahead``, which ``+Nus`` (``write-ahead+120us``) makes spend N
microseconds of CPU per command on their loop: with the gateway's extra CPU per command and
none of its design, they tell how much of its latency over theirs the CPU alone explains.
Every round runs each system once, the order rotated by the round, on one broker and one
sandbox; the medians close the report. For a change's own measurement before it lands,
against the code it changes:

    git worktree add /tmp/before HEAD
    python -m bench.ab before=/tmp/before/service after=installed raw --rounds 3

Each line: results per second, the system's CPU per command and busy share of a core; in
``latency``, its p50/p99, the intake p50 and the acknowledged write before each call (p50);
last, the broker's CPU share. ``--kafka-rtt`` adds each system's Kafka round trips, from a
request's write to the handling of its answer (``bench/rtt_probe``): its input consumer's
fetches and all its produce requests, p50/mean and how many. ``--loop-census`` runs every
system on the standard asyncio loop and counts what its loop ran (``bench/loop_census``): its
iterations, the callbacks in each and their time, and per command the callbacks of each kind
(a task's step or wake-up, named by its coroutine; a plain callback) and their time. The
machine's speed drifts
between rounds (bench/README.md): compare systems within a round, and the CPU per command more
than the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import Measurement, Stack, open_stack, run_backlog, run_paced
from bench.systems import SystemSpec
from bench.workload import Workload

__all__ = ["main"]

_NAME = re.compile(r"[A-Za-z0-9_]{1,32}")
_BASELINES = ("raw", "write-ahead")
_BURNING = re.compile(r"(?P<kind>raw|write-ahead)\+(?P<us>[0-9]{1,5})us")


@dataclass
class _System:
    name: str
    spec: SystemSpec
    rows: list[dict[str, float]] = field(default_factory=list)


def _system(text: str) -> _System:
    if text in _BASELINES:
        return _System(text, SystemSpec(text))  # type: ignore[arg-type]
    if burning := _BURNING.fullmatch(text):
        spec = SystemSpec(burning["kind"], burn_us=int(burning["us"]))  # type: ignore[arg-type]
        return _System(text, spec)
    name, sep, where = text.partition("=")
    if not sep or not _NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"{text!r}: NAME=DIR, NAME=installed, raw, write-ahead or either +Nus"
            " (NAME: letters, digits, _)"
        )
    if where == "installed":
        return _System(name, SystemSpec("gateway", variant=name))
    source = Path(where).resolve()
    if not (source / "wawp_gateway" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{where}: no wawp_gateway package in it")
    return _System(name, SystemSpec("gateway", source=source, variant=name))


def _figures(measurement: Measurement, scenario: str) -> dict[str, float]:
    cpu = measurement.cpu_s.get("system", 0.0)
    figures = {
        "per_s": measurement.throughput["per_s"],
        "cpu_us": cpu / measurement.completed * 1e6 if measurement.completed else 0.0,
        "busy": measurement.cpu_share("system"),
    }
    if scenario == "latency" and measurement.latency is not None:
        completed = measurement.latency["completed_at"]
        figures["p50_ms"] = completed["p50_ms"]
        figures["p99_ms"] = completed["p99_ms"]
        figures["intake_p50_ms"] = measurement.latency.get("intake", {}).get("p50_ms", 0.0)
        # The acknowledged write before each call: the gateway's own histogram, the
        # write-ahead loop's own times.
        acks = measurement.extra.get("state_write_ms") or measurement.extra.get("state_ack_ms")
        if acks:
            figures["ack_p50_ms"] = acks["p50"]
    figures["broker"] = measurement.cpu_share("broker")
    if (steal := measurement.extra.get("steal_share")) is not None:
        figures["steal"] = steal
    return figures


def _line(name: str, figures: dict[str, float]) -> str:
    parts = [f"{figures['per_s']:8,.0f}/s", f"{figures['cpu_us']:6.1f} us/cmd"]
    parts.append(f"busy {figures['busy']:.2f}")
    if "p50_ms" in figures:
        parts.append(f"p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms")
        parts.append(f"intake p50 {figures['intake_p50_ms']:5.1f} ms")
        if "ack_p50_ms" in figures:
            parts.append(f"ack p50 {figures['ack_p50_ms']:5.1f} ms")
    parts.append(f"broker {figures['broker']:.2f}")
    if "steal" in figures:
        parts.append(f"steal {figures['steal']:.0%}")
    return f"{name:>17}  " + "  ".join(parts)


async def _measure(
    stack: Stack, system: _System, args: argparse.Namespace, round_no: int
) -> Measurement:
    await stack.reset_sandbox()
    if args.scenario == "upstream-0ms":
        workload = Workload(f"ab{round_no}", args.commands, args.instances, args.chats)
        measurement, _, _ = await run_backlog(stack, args.scenario, system.spec, workload)
        return measurement
    workload = Workload(f"ab{round_no}", int(args.rate * args.duration), args.instances, args.chats)
    warmup = Workload("warm", min(200, args.instances), args.instances, 1)
    measurement, _ = await run_paced(
        stack, args.scenario, system.spec, workload, rate=args.rate, upstream_ms=0, warmup=warmup
    )
    return measurement


def _install_probe(run_dir: Path, probe: str, variable: str) -> Path:
    """Put ``bench/<probe>`` on the path of every process started from now on, writing to a
    directory of the run named by ``variable``; returns that directory."""
    out = run_dir / probe
    out.mkdir()
    os.environ[variable] = str(out)
    found = str(Path(__file__).parent / probe)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [found, os.environ.get("PYTHONPATH")]))
    return out


def _new_reports(out: Path, seen: set[Path]) -> list[dict[str, Any]]:
    """The reports written by the processes that ended since the last call."""
    fresh = sorted(set(out.glob("*.json")) - seen)
    seen.update(fresh)
    return [json.loads(path.read_text()) for path in fresh]


def _probe_round_trips(run_dir: Path) -> Path:
    """Have every process started from now on time its Kafka requests; where they write."""
    return _install_probe(run_dir, "rtt_probe", "WAWP_BENCH_RTT_OUT")


def _round_trips(out: Path, seen: set[Path]) -> str:
    """The round trips written by the processes that ended since the last call."""
    lines = []
    for report in _new_reports(out, seen):
        parts = [
            f"{what} p50 {q['p50_ms']:.1f} mean {q['mean_ms']:.1f} ms ({q['requests']:,})"
            for what in ("fetch", "produce")
            if (q := report.get(what))
        ]
        lines.append("                kafka round trips: " + ", ".join(parts))
    return "\n".join(lines)


def _count_loops(run_dir: Path, systems: list[_System]) -> Path:
    """Have every system started from now on run on the asyncio loop and count its callbacks;
    where they write."""
    out = _install_probe(run_dir, "loop_census", "WAWP_BENCH_LOOP_OUT")
    os.environ["GATEWAY_ENGINE__UVLOOP"] = "false"
    for system in systems:
        if system.spec.kind != "gateway":
            system.spec = dataclasses.replace(system.spec, loop="asyncio")
    return out


def census_lines(report: dict[str, Any], commands: int, top: int = 12) -> list[str]:
    """A loop census (``bench/loop_census``) in a few lines: the loop's iterations, then per
    command the callbacks of the ``top`` kinds by time."""
    iterations = report["iterations"] or 1
    per = max(commands, 1)
    lines = [
        f"loop: {report['iterations']:,} iterations, {report['callbacks'] / iterations:.1f}"
        f" callbacks and {report['busy_s'] / iterations * 1000:.2f} ms busy each; a command:"
        f" {report['callbacks'] / per:.1f} callbacks, {report['busy_s'] / per * 1e6:.0f} us"
    ]
    for kind, seen in list(report["kinds"].items())[:top]:
        lines.append(
            f"  {seen['count'] / per:5.2f} x {seen['seconds'] / seen['count'] * 1e6:6.1f} us"
            f" = {seen['seconds'] / per * 1e6:6.1f} us  {kind}"
        )
    return lines


def _censuses(out: Path, seen: set[Path], commands: int) -> str:
    """The censuses written by the processes that ended since the last call."""
    lines = [line for report in _new_reports(out, seen) for line in census_lines(report, commands)]
    return "\n".join(" " * 16 + line for line in lines)


async def _run(args: argparse.Namespace, systems: list[_System]) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="wawp-bench-ab-"))
    print(f"bench.ab: logs in {run_dir}", flush=True)
    rtt_out = _probe_round_trips(run_dir) if args.kafka_rtt else None
    rtt_seen: set[Path] = set()
    census_out = _count_loops(run_dir, systems) if args.loop_census else None
    census_seen: set[Path] = set()
    async with open_stack(run_dir, instances=args.instances, profile=args.profile) as stack:
        for round_no in range(args.rounds):
            shift = round_no % len(systems)
            for system in systems[shift:] + systems[:shift]:
                measurement = await _measure(stack, system, args, round_no)
                figures = _figures(measurement, args.scenario)
                system.rows.append(figures)
                print(f"round {round_no + 1}: " + _line(system.name, figures), flush=True)
                if rtt_out is not None and (trips := _round_trips(rtt_out, rtt_seen)):
                    print(trips, flush=True)
                if census_out is not None and (
                    counted := _censuses(census_out, census_seen, measurement.completed)
                ):
                    print(counted, flush=True)
    print(f"\nmedians of {args.rounds} rounds ({args.scenario}):")
    first = systems[0]
    for system in systems:
        medians = {key: statistics.median(r[key] for r in system.rows) for key in system.rows[0]}
        ratios = [
            mine["per_s"] / theirs["per_s"]
            for mine, theirs in zip(system.rows, first.rows, strict=True)
            if theirs["per_s"]
        ]
        versus = "" if system is first else f"  x{statistics.median(ratios):.3f} of {first.name}"
        print(f"          {_line(system.name, medians)}{versus}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    parser.add_argument("systems", nargs="+", type=_system, metavar="SYSTEM")
    parser.add_argument("--scenario", choices=("upstream-0ms", "latency"), default="upstream-0ms")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commands", type=int, default=40_000, help="upstream-0ms: backlog size")
    parser.add_argument("--rate", type=float, default=1432.0, help="latency: commands/s")
    parser.add_argument("--duration", type=float, default=15.0, help="latency: seconds per round")
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--chats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="py-spy every gateway process")
    probes = parser.add_mutually_exclusive_group()
    probes.add_argument(
        "--kafka-rtt", action="store_true", help="time each system's Kafka requests"
    )
    probes.add_argument(
        "--loop-census",
        action="store_true",
        help="count each system's event-loop callbacks (on the asyncio loop)",
    )
    args = parser.parse_args(argv)
    names = [system.name for system in args.systems]
    if len(set(names)) != len(names):
        parser.error("every system needs a name of its own")
    try:
        asyncio.run(_run(args, args.systems))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
