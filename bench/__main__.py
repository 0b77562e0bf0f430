"""``python -m bench``: start a broker and a sandbox, run the scenarios, report.

    python -m bench [--scenarios a,b] [--commands N] [--quick] [--fetch-waits 50,10]
                    [--restore-records N] [--restore-partitions P]

Exits 1 on a harness error (a scenario that could not be measured), never on a missed goal.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType

from bench import profile
from bench.measure import open_stack
from bench.report import render, write
from bench.scenarios import DEFAULT_SCENARIOS, RESULTS_DIR, SCENARIOS, Options, Shared

__all__ = ["main"]


def _options(args: argparse.Namespace) -> Options:
    waits = tuple(int(w) for w in args.fetch_waits.split(",") if w)
    stacks = tuple(s for s in args.gateway_stacks.split(",") if s)
    if args.quick:
        return Options(
            commands=args.commands or 2000,
            quick=True,
            fetch_waits=waits[:1],
            latency_rate=args.latency_rate,
            raw_asyncio=False,
            restore_records=args.restore_records or 20_000,
            restore_partitions=args.restore_partitions,
            gateway_stacks=stacks,
        )
    return Options(
        commands=args.commands or 40_000,
        fetch_waits=waits,
        latency_duration_s=args.latency_duration,
        latency_rounds=args.latency_rounds,
        throughput_rounds=args.throughput_rounds,
        latency_rate=args.latency_rate,
        restore_records=args.restore_records or 1_000_000,
        restore_partitions=args.restore_partitions,
        gateway_stacks=stacks,
    )


async def _run(args: argparse.Namespace, names: list[str], run_dir: Path) -> int:
    opts = _options(args)
    failures = 0
    async with open_stack(
        run_dir,
        instances=opts.instances,
        session_timeout_ms=3000 if opts.quick else 6000,
        profile=args.profile,
    ) as stack:
        shared = Shared()
        for name in names:
            started = time.monotonic()
            print(f"\n== {name} ...", flush=True)
            try:
                payload = (await SCENARIOS[name](stack, opts, shared)).to_json(opts, stack.run_id)
            except Exception as exc:
                failures += 1
                traceback.print_exc()
                payload = {"scenario": name, "title": "not measured", "error": repr(exc)}
                print(render(payload))
                continue
            payload["elapsed_s"] = round(time.monotonic() - started, 1)
            print(render(payload), flush=True)
            print(f"({name}: {payload['elapsed_s']} s)", flush=True)
            write(Path(args.results_dir) if not opts.quick else run_dir / "results", payload)
    return 1 if failures else 0


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM ends the run like Ctrl-C does, so every child is stopped on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated, of: {', '.join(SCENARIOS)} ('all' = every one)",
    )
    parser.add_argument("--commands", type=int, help="N of the throughput scenarios (40000)")
    parser.add_argument("--quick", action="store_true", help="small N: a smoke run of the harness")
    parser.add_argument("--fetch-waits", default="50,10", help="gateway fetch_max_wait_ms values")
    parser.add_argument("--latency-duration", type=float, default=20.0)
    parser.add_argument(
        "--latency-rounds", type=int, default=3, help="rounds per system; the goal uses medians"
    )
    parser.add_argument(
        "--throughput-rounds",
        type=int,
        default=3,
        help="upstream-0ms rounds per system; the goals use medians",
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        help="default: half the gateway's live capacity (measured first)",
    )
    parser.add_argument(
        "--restore-records", type=int, help="state records of the restore scenario (1000000)"
    )
    parser.add_argument("--restore-partitions", type=int, default=1)
    parser.add_argument(
        "--gateway-stacks",
        default="",
        help="upstream-0ms: also run the gateway on these HTTP stacks (e.g. httptools,httpx)",
    )
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample each gateway process with py-spy; print where its CPU went",
    )
    args = parser.parse_args(argv)
    if args.profile:
        profile.py_spy()  # fails now, naming how to get it, rather than after the first run
    names = list(SCENARIOS) if args.scenarios == "all" else args.scenarios.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    signal.signal(signal.SIGTERM, _terminate)
    run_dir = Path(tempfile.mkdtemp(prefix="wawp-bench-"))
    print(f"bench: logs in {run_dir}", flush=True)
    try:
        return asyncio.run(_run(args, names, run_dir))
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
