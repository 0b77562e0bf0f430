"""The soak: a steady rate for a set time through the whole system, and whether it stays flat.

    python -m bench.soak [--minutes 30] [--rate 300] [--instances 100] [--warmup-minutes 5]

Wired as ``wawp-gateway dev`` wires it, but one process each, so each one's memory is its own:
the embedded broker, the Wawp sandbox (posting its webhooks, acks included, to the receiver),
the worker (its idempotency store on disk in the run directory), the webhook receiver and the
delivery tracker. ``bench.load`` publishes sendText commands at ``--rate`` for ``--minutes``.
Every ``--every-s`` seconds the soak samples each process's RSS, the worker's consumer lag,
results (``gateway_commands_total``), idempotency keys held and evicted, the metric series each
process exposes, and the sandbox's webhook deliveries.

At the end it prints the samples, each process's RSS slope after the warm-up (least squares, MB
per minute), and a verdict:
- worker RSS slope after the warm-up < 1 MB/min;
- every command has a result, the lag is back to 0, and no key was evicted;
- at least 500,000 keys held at the end (on runs long enough to publish that many);
- webhook delivery success as the sandbox counts it (delivered / due) >= 99%;
- no task exception, traceback or error line in any process's log.
The samples and the verdict go to ``<run dir>/soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import Proc, ProcessGroup, free_port, rss_bytes
from bench.sandbox import SandboxClient, start_sandbox
from bench.systems import TOKEN, RateLimits
from bench.workload import Workload, instance_id
from wawp_gateway.core.broker import start_embedded_broker
from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.sections import KafkaSettings

__all__ = ["main"]

_MB = 1024 * 1024
_SECRET = "soak-webhook-secret"
_PARTITIONS = 12
_KEYS_GOAL = 500_000
_SLOPE_GOAL_MB_PER_MIN = 1.0
_DELIVERY_GOAL = 0.99
# Lines no healthy process writes (the webhook post failure the sandbox used to hide was one).
_BAD_LINES = ("Task exception was never retrieved", "Traceback (most recent call last)")


@dataclass
class Sample:
    at_s: float
    rss_mb: dict[str, float]
    lag: float
    results: float
    keys: float
    evicted: float
    series: dict[str, int]
    webhooks: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return self.__dict__


@dataclass
class Soak:
    args: argparse.Namespace
    run_dir: Path
    group: ProcessGroup
    procs: dict[str, Proc] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)


def _scrape(url: str) -> dict[str, float]:
    """Sums of each metric's samples, by name (labels summed away), and the series count."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    sums: dict[str, float] = {}
    series = 0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series += 1
        name = line.split("{", 1)[0].split(" ", 1)[0]
        try:
            sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        except ValueError:
            continue
    sums["__series__"] = series
    return sums


def _env(
    run_dir: Path, bootstrap: str, sandbox_url: str, prefix: str, instances: list[str]
) -> dict[str, str]:
    instances_file = run_dir / "instances.toml"
    instances_file.write_text(RateLimits().to_toml(instances))
    topics = {
        "SEND": f"{prefix}.send",
        "COMMAND": f"{prefix}.command",
        "RESULTS": f"{prefix}.results",
        "DLQ": f"{prefix}.dlq",
        "STATE": f"{prefix}.state",
        "EVENTS": f"{prefix}.events",
        "DELIVERY": f"{prefix}.delivery",
        "INSTANCES": f"{prefix}.instances",
        "SESSIONS": f"{prefix}.sessions",
    }
    return {
        "GATEWAY_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "GATEWAY_KAFKA__GROUP_ID": f"{prefix}.group",
        "GATEWAY_KAFKA__PARTITIONS": str(_PARTITIONS),
        **{f"GATEWAY_TOPICS__{k}": v for k, v in topics.items()},
        "GATEWAY_WAWP__BASE_URL": sandbox_url + "/wp-json/awp/v1",
        "GATEWAY_WAWP__V2_BASE_URL": sandbox_url,
        "GATEWAY_WAWP__ACCESS_TOKEN": TOKEN,
        "GATEWAY_INSTANCES_FILE": str(instances_file),
        "GATEWAY_METRICS__HOST": "127.0.0.1",
        "GATEWAY_WEBHOOK__HOST": "127.0.0.1",
        "GATEWAY_WEBHOOK__SECRET": _SECRET,
        "GATEWAY_LOG__LEVEL": "warning",
        "GATEWAY_LOG__FORMAT": "json",
    }


async def _start(soak: Soak, prefix: str, bootstrap: str, admin: SandboxClient, url: str) -> None:
    instances = [instance_id(i) for i in range(soak.args.instances)]
    env = _env(soak.run_dir, bootstrap, url, prefix, instances)
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    await create_topics(kafka, [v for k, v in env.items() if "TOPICS" in k], partitions=_PARTITIONS)
    await admin.register(instances, TOKEN)
    group = soak.group
    worker_port, tracker_port, webhook_port = free_port(), free_port(), free_port()
    store = soak.run_dir / "worker-store"
    soak.procs["worker"] = group.python(
        "worker",
        "wawp_gateway",
        "worker",
        env={
            **env,
            "GATEWAY_METRICS__PORT": str(worker_port),
            "GATEWAY_IDEMPOTENCY__STORE_DIR": str(store),
        },
    )
    webhook_env = {**env, "GATEWAY_WEBHOOK__PORT": str(webhook_port)}
    soak.procs["webhook"] = group.python("webhook", "wawp_gateway", "webhook", env=webhook_env)
    tracker_env = {**env, "GATEWAY_METRICS__PORT": str(tracker_port)}
    soak.procs["tracker"] = group.python("tracker", "wawp_gateway", "tracker", env=tracker_env)
    soak.metrics = {
        "worker": f"http://127.0.0.1:{worker_port}/metrics",
        "webhook": f"http://127.0.0.1:{webhook_port}/metrics",
        "tracker": f"http://127.0.0.1:{tracker_port}/metrics",
    }
    receiver = f"http://127.0.0.1:{webhook_port}/webhooks/wawp"
    await admin.set_webhook(receiver, _SECRET)
    deadline = time.monotonic() + 90
    while True:  # every process answers /metrics, and the worker has its partitions
        try:
            ready = [_scrape(url) for url in soak.metrics.values()]
            if ready[0].get("gateway_consumer_lag_records") is not None:
                break
        except OSError:
            pass
        for proc in soak.procs.values():
            proc.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("the soak's processes did not come up within 90 s")
        await asyncio.sleep(1)  # polling start-up, not timing anything


async def _sample(soak: Soak, started: float, admin: SandboxClient) -> Sample:
    scraped = {name: _scrape(url) for name, url in soak.metrics.items()}
    worker = scraped["worker"]
    health = await admin.health()
    pids = {name: proc.pid for name, proc in soak.procs.items()}
    return Sample(
        at_s=round(time.monotonic() - started, 1),
        rss_mb={n: round((rss_bytes(pid) or 0) / _MB, 1) for n, pid in pids.items()},
        lag=worker.get("gateway_consumer_lag_records", 0.0),
        results=worker.get("gateway_commands_total", 0.0),
        keys=worker.get("gateway_state_keys", 0.0),
        evicted=worker.get("gateway_state_evicted_keys_total", 0.0),
        series={name: int(s["__series__"]) for name, s in scraped.items()},
        webhooks=dict(health.get("webhooks", {})),
    )


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope, per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if not var:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var * 60


def _bad_lines(soak: Soak) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, proc in soak.procs.items():
        text = proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""
        lines = [
            line[:300]
            for line in text.splitlines()
            if any(bad in line for bad in _BAD_LINES) or '"level": "error"' in line
        ]
        if lines:
            found[name] = lines[:5]
    return found


def _verdict(soak: Soak, published: int, warmup_s: float) -> dict[str, Any]:
    last = soak.samples[-1]
    late = [s for s in soak.samples if s.at_s >= warmup_s]
    slopes = {
        name: round(_slope([(s.at_s, s.rss_mb[name]) for s in late]), 3) for name in soak.procs
    }
    hooks = last.webhooks
    due = hooks.get("delivered", 0) + hooks.get("failed", 0) + hooks.get("dropped", 0)
    delivery = hooks.get("delivered", 0) / due if due else 0.0
    bad = _bad_lines(soak)
    checks = {
        "worker RSS slope after warm-up < 1 MB/min": slopes["worker"] < _SLOPE_GOAL_MB_PER_MIN,
        "every command has a result": last.results >= published,
        "lag back to 0": last.lag == 0,
        "no key evicted": last.evicted == 0,
        "webhook delivery success >= 99%": delivery >= _DELIVERY_GOAL,
        "no task exception, traceback or error in the logs": not bad,
    }
    if published >= _KEYS_GOAL:
        checks[f"at least {_KEYS_GOAL:,} keys held"] = last.keys >= _KEYS_GOAL
    return {
        "published": published,
        "warmup_s": warmup_s,
        "rss_slope_mb_per_min": slopes,
        "delivery_success": round(delivery, 5),
        "webhooks": hooks,
        "bad_lines": bad,
        "checks": checks,
        "ok": all(checks.values()),
    }


async def _run(args: argparse.Namespace, run_dir: Path) -> int:
    print(f"soak: run directory {run_dir}", flush=True)
    group = ProcessGroup(run_dir / "logs")
    broker = start_embedded_broker(run_dir / "broker")
    soak = Soak(args, run_dir, group)
    try:
        sandbox, url = start_sandbox(group)
        soak.procs["sandbox"] = sandbox
        async with SandboxClient(url) as admin:
            prefix = f"soak{time.strftime('%H%M%S')}"
            await _start(soak, prefix, broker.bootstrap, admin, url)
            soak.procs["broker"] = Proc("broker", broker.process, run_dir / "broker.log")
            total = int(args.rate * args.minutes * 60)
            workload = Workload(prefix, total, instances=args.instances, chats=20)
            load = group.spawn(
                "load",
                [
                    sys.executable,
                    "-m",
                    "bench.load",
                    "--bootstrap",
                    broker.bootstrap,
                    "--topic",
                    f"{prefix}.send",
                    "--workload",
                    workload.to_json(),
                    "--rate",
                    str(args.rate),
                ],
            )
            started = time.monotonic()
            drain_until = started + args.minutes * 60 + args.drain_s
            interrupted = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):  # stop early, still stop the children
                loop.add_signal_handler(sig, interrupted.set)
            while not interrupted.is_set():
                with contextlib.suppress(TimeoutError):  # the sampling period
                    await asyncio.wait_for(interrupted.wait(), args.every_s)
                sample = await _sample(soak, started, admin)
                soak.samples.append(sample)
                print(
                    f"{sample.at_s:7.0f}s rss {sample.rss_mb} lag {sample.lag:.0f} "
                    f"results {sample.results:.0f} keys {sample.keys:.0f} "
                    f"evicted {sample.evicted:.0f} series {sample.series} "
                    f"webhooks {sample.webhooks}",
                    flush=True,
                )
                for name in ("worker", "webhook", "tracker", "sandbox"):
                    soak.procs[name].check_alive()
                done = not load.alive() and sample.results >= total and sample.lag == 0
                if done or time.monotonic() > drain_until:
                    break
            verdict = _verdict(soak, total, args.warmup_minutes * 60)
    finally:
        soak.procs.pop("broker", None)
        group.close()
        broker.stop()
    report = {
        "args": vars(args),
        "samples": [s.to_json() for s in soak.samples],
        "verdict": verdict,
    }
    (run_dir / "soak.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(verdict, indent=1))
    print("soak: " + ("PASS" if verdict["ok"] else "FAIL"), flush=True)
    return 0 if verdict["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=300.0, help="commands/s")
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--warmup-minutes", type=float, default=5.0)
    parser.add_argument("--every-s", type=float, default=10.0, help="sampling period")
    parser.add_argument("--drain-s", type=float, default=120.0, help="after the load, at most")
    parser.add_argument("--run-dir", help="default /tmp/wawp-soak-<time>")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir or f"/tmp/wawp-soak-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_run(args, run_dir))


if __name__ == "__main__":
    sys.exit(main())
