"""One measurement: a system under test, a workload, the collector and the CPU books.

``Stack`` holds what a whole run shares (broker, sandbox, process group). ``run_backlog``
publishes the workload first and then starts the system (throughput); ``run_paced`` starts the
system, proves it ready with a warm-up round, then publishes at a fixed rate (latency). Both
return a ``Measurement`` with the CPU seconds of every process during the measured window.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import profile
from bench.collect import (
    Collector,
    Received,
    live_rate,
    percentile,
    summarize_latency,
    throughput,
)
from bench.harness import CpuSnapshot, Proc, ProcessGroup, RssSampler, wait_for
from bench.sandbox import SandboxClient, start_sandbox
from bench.scrape import histogram_quantiles
from bench.systems import (
    PARTITIONS,
    RateLimits,
    SystemSpec,
    Topics,
    ack_times_path,
    launch,
    make_topics,
    state_ack_times_path,
)
from bench.workload import TOKEN, Workload, instance_id, parse_seq
from wawp_gateway.core.broker import start_embedded_broker

__all__ = ["LIVE_SKIP_S", "Measurement", "Stack", "open_stack", "run_backlog", "run_paced"]

# A paced run's live rate leaves out its first seconds: the fetch pipeline filling up.
LIVE_SKIP_S = 2.0

_counter = itertools.count(1)


@dataclass
class Stack:
    run_id: str
    run_dir: Path
    group: ProcessGroup
    bootstrap: str
    broker_pid: int
    sandbox: Proc
    sandbox_url: str
    admin: SandboxClient
    all_instances: list[str] = field(default_factory=list)
    session_timeout_ms: int = 6000
    profile: bool = False  # --profile: py-spy samples every gateway process (bench/profile.py)

    def topics(self, scenario: str, spec: SystemSpec) -> Topics:
        return Topics(f"b{self.run_id}.{next(_counter)}.{scenario}.{spec.slug}")

    def pids(self, sut: Proc | None) -> dict[str, int]:
        pids = {"broker": self.broker_pid, "sandbox": self.sandbox.pid, "harness": os.getpid()}
        if sut is not None:
            pids["system"] = sut.pid
        return pids

    async def reset_sandbox(self) -> None:
        await self.admin.reset(self.all_instances, TOKEN)


@asynccontextmanager
async def open_stack(
    run_dir: Path, *, instances: int, session_timeout_ms: int = 6000, profile: bool = False
) -> AsyncIterator[Stack]:
    """A broker and a sandbox for a run, its instances registered; both stopped on the way
    out, with every process the run started."""
    group = ProcessGroup(run_dir / "logs")
    broker = start_embedded_broker(run_dir / "broker")
    try:
        sandbox, url = start_sandbox(group)
        async with SandboxClient(url) as admin:
            stack = Stack(
                run_id=time.strftime("%H%M%S"),
                run_dir=run_dir,
                group=group,
                bootstrap=broker.bootstrap,
                broker_pid=broker.process.pid,
                sandbox=sandbox,
                sandbox_url=url,
                admin=admin,
                all_instances=[instance_id(i) for i in range(instances)],
                session_timeout_ms=session_timeout_ms,
                profile=profile,
            )
            await admin.register(stack.all_instances, TOKEN)
            yield stack
    finally:
        group.close()
        broker.stop()


@dataclass
class Measurement:
    system: str
    published: int
    completed: int
    throughput: dict[str, float]
    cpu_s: dict[str, float]
    window_s: float
    rss_peak_mb: float
    statuses: dict[str, int]
    duplicates: int
    latency: dict[str, dict[str, float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def cpu_share(self, name: str) -> float:
        """CPU seconds of ``name`` per wall second of the window (1.0 = one core busy)."""
        return self.cpu_s.get(name, 0.0) / self.window_s if self.window_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "published": self.published,
            "completed": self.completed,
            "throughput": self.throughput,
            "cpu_s": self.cpu_s,
            "window_s": round(self.window_s, 3),
            "rss_peak_mb": round(self.rss_peak_mb, 1),
            "statuses": self.statuses,
            "duplicates": self.duplicates,
            "latency": self.latency,
            **self.extra,
        }


async def _load(
    stack: Stack,
    topics: list[str],
    workload: Workload,
    *,
    rate: float = 0.0,
    times: Path | None = None,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Run the load client to its end; its report (published, elapsed, its own CPU)."""
    report = stack.run_dir / f"load-{workload.prefix}.json"
    argv = [
        sys.executable,
        "-m",
        "bench.load",
        "--bootstrap",
        stack.bootstrap,
        "--workload",
        workload.to_json(),
        "--rate",
        str(rate),
        "--report",
        str(report),
    ]
    for topic in topics:
        argv += ["--topic", topic]
    if times is not None:
        argv += ["--times", str(times)]
    proc = stack.group.spawn(f"load-{workload.prefix}", argv)
    await wait_for(lambda: not proc.alive(), timeout_s=timeout_s, what="the load client")
    if proc.popen.returncode != 0:
        raise RuntimeError(f"the load client failed:\n{proc.log_tail()}")
    loaded: dict[str, Any] = json.loads(report.read_text())
    return loaded


def instances_of(workload: Workload) -> list[str]:
    count = workload.instances + (1 if workload.hot_count else 0)
    return [instance_id(workload.first_instance + i) for i in range(count)]


async def _start(
    stack: Stack, spec: SystemSpec, topics: Topics, limits: RateLimits
) -> tuple[Proc, Collector]:
    collector = Collector(stack.bootstrap, topics.results, PARTITIONS)
    await collector.start()
    proc = launch(
        stack.group,
        spec,
        topics=topics,
        bootstrap=stack.bootstrap,
        sandbox_url=stack.sandbox_url,
        instance_ids=stack.all_instances,
        limits=limits,
        run_dir=stack.run_dir,
        session_timeout_ms=stack.session_timeout_ms,
    )
    if stack.profile and spec.kind == "gateway":
        out = stack.run_dir / f"profile-{topics.prefix}.txt"
        _profiles[proc.pid] = (spec.label, profile.attach(stack.group, proc.pid, out), out)
    return proc, collector


# The py-spy sampling each profiled system (by its pid): its label, py-spy's process, its file.
_profiles: dict[int, tuple[str, Proc, Path]] = {}


async def _stop(proc: Proc) -> None:
    """Stop a system; when it was profiled, print where its CPU went once py-spy has written."""
    proc.stop()
    profiled = _profiles.pop(proc.pid, None)
    if profiled is None:
        return
    label, sampler, out = profiled
    await wait_for(lambda: not sampler.alive(), timeout_s=30.0, what="py-spy writing its profile")
    lines = profile.summary(out) if out.exists() else [f"{out}: py-spy wrote nothing"]
    print(f"bench: profile of {label}", *lines, sep="\n", file=sys.stderr)


async def _until_all(
    proc: Proc, collector: Collector, expected: frozenset[str], deadline_s: float
) -> bool:
    deadline = time.monotonic() + deadline_s
    missing = set(expected)
    while missing:
        proc.check_alive()
        missing = {cid for cid in missing if cid not in collector.results}
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _until_done(
    proc: Proc, collector: Collector, prefix: str, total: int, deadline_s: float
) -> bool:
    """Wait for ``total`` results of ``prefix``; False when ``deadline_s`` passed first."""
    deadline = time.monotonic() + deadline_s
    while collector.count(prefix) < total:
        proc.check_alive()
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _summarize(
    spec: SystemSpec,
    workload: Workload,
    received: list[Received],
    collector: Collector,
    cpu: dict[str, float],
    window_s: float,
    rss: RssSampler,
) -> Measurement:
    return Measurement(
        system=spec.label,
        published=workload.total,
        completed=len(received),
        throughput=throughput(received),
        cpu_s=cpu,
        window_s=window_s,
        rss_peak_mb=rss.peak / 2**20,
        statuses=dict(Counter(r.status for r in received)),
        duplicates=sum(collector.duplicates.values()),
    )


async def run_backlog(
    stack: Stack,
    scenario: str,
    spec: SystemSpec,
    workload: Workload,
    *,
    limits: RateLimits | None = None,
    deadline_s: float = 300.0,
    first_result_timeout_s: float = 60.0,
    expected: frozenset[str] | None = None,
    tail: tuple[frozenset[str], float] | None = None,
) -> tuple[Measurement, Collector, Topics]:
    """Publish ``workload`` as a backlog, then start ``spec``; measure from its first result to
    its last (or to ``deadline_s`` after the first, for slow systems). With ``expected``, the
    run ends once those command ids have results (the others may still be pending). With
    ``tail`` = (ids, seconds), the system then keeps running, outside the measured window, until
    those ids have results too or the seconds pass (for checks on slow, rate-limited work)."""
    topics = stack.topics(scenario, spec)
    await make_topics(stack.bootstrap, topics)
    loaded = await _load(stack, [topics.send], workload)
    spawned = time.monotonic()
    proc, collector = await _start(stack, spec, topics, limits or RateLimits())
    pids = stack.pids(proc)
    first: list[CpuSnapshot] = []
    collector.on_first = lambda: first.append(CpuSnapshot.take(pids))
    try:
        with RssSampler(proc.pid) as rss:
            await wait_for(
                lambda: bool(first) or not proc.alive(),
                timeout_s=first_result_timeout_s,
                what=f"the first result of {spec.label}",
            )
            proc.check_alive()
            if expected is None:
                finished = await _until_done(
                    proc, collector, workload.prefix, workload.total, deadline_s
                )
            else:
                finished = await _until_all(proc, collector, expected, deadline_s)
            end = CpuSnapshot.take(pids)
            if tail is not None:
                await _until_all(proc, collector, tail[0], tail[1])
    finally:
        await _stop(proc)
        await collector.stop()
    received = collector.of(workload.prefix)
    result = _summarize(
        spec, workload, received, collector, end.since(first[0]), end.at - first[0].at, rss
    )
    result.cpu_s["load"] = round(loaded["cpu_s"], 3)
    result.extra["steal_share"] = end.steal_since(first[0])
    result.extra["finished"] = finished
    result.extra["start_to_first_result_s"] = round(first[0].at - spawned, 2)
    result.extra["load_publish_per_s"] = round(loaded["published"] / loaded["elapsed_s"], 1)
    return result, collector, topics


async def _own_quantiles(proc: Proc, histogram: str) -> dict[str, float] | None:
    """The gateway's own p50/p99 of one of its histograms, in ms (warm-up included: 200
    commands beside the tens of thousands measured): ``gateway_state_write_seconds`` (a
    wawp.state record's time to its acknowledgement), ``gateway_event_loop_lag_seconds``."""
    if proc.metrics_url is None:
        return None
    try:
        quantiles = await histogram_quantiles(proc.metrics_url, histogram, (0.5, 0.99))
    except OSError:  # a split of the latency, not the measurement: the run goes on without it
        return None
    return {name: round(seconds * 1000, 1) for name, seconds in quantiles.items()}


def _ack_quantiles(path: Path) -> dict[str, float] | None:
    """A raw baseline's p50/p99 of its records' times to acknowledgement, in ms (written when
    it stopped; none for the other systems)."""
    if not path.exists():
        return None
    samples: list[float] = sorted(json.loads(path.read_text()))
    if not samples:
        return None
    return {
        "p50": round(percentile(samples, 50), 1),
        "p99": round(percentile(samples, 99), 1),
    }


async def run_paced(
    stack: Stack,
    scenario: str,
    spec: SystemSpec,
    workload: Workload,
    *,
    rate: float,
    upstream_ms: float,
    warmup: Workload,
    limits: RateLimits | None = None,
) -> tuple[Measurement, Collector]:
    """Start ``spec``, wait for a warm-up round to come back (readiness: assigned, connected),
    then publish ``workload`` at ``rate``/s. Latency = result time - publish time - upstream."""
    topics = stack.topics(scenario, spec)
    await make_topics(stack.bootstrap, topics)
    proc, collector = await _start(stack, spec, topics, limits or RateLimits())
    pids = stack.pids(proc)
    times_path = stack.run_dir / f"times-{topics.prefix}.json"
    try:
        with RssSampler(proc.pid) as rss:
            await _load(stack, [topics.send], warmup)
            ready = await _until_done(proc, collector, warmup.prefix, warmup.total, 90)
            if not ready:
                raise RuntimeError(f"{spec.label} did not answer the warm-up round in 90 s")
            start = CpuSnapshot.take(pids)
            loaded = await _load(stack, [topics.send], workload, rate=rate, times=times_path)
            finished = await _until_done(proc, collector, workload.prefix, workload.total, 60)
            end = CpuSnapshot.take(pids)
            state_write = await _own_quantiles(proc, "gateway_state_write_seconds")
            loop_lag = await _own_quantiles(proc, "gateway_event_loop_lag_seconds")
    finally:
        await _stop(proc)
        await collector.stop()
    stamps: list[float] = json.loads(times_path.read_text())
    received = collector.of(workload.prefix)
    result = _summarize(
        spec, workload, received, collector, end.since(start), end.at - start.at, rss
    )
    result.cpu_s["load"] = round(loaded["cpu_s"], 3)
    result.extra["steal_share"] = end.steal_since(start)
    upstream_s = upstream_ms / 1000
    by_completion = [
        (r.completed_at - stamps[parse_seq(r.command_id)] - upstream_s) * 1000 for r in received
    ]
    by_receipt = [
        (r.received_at - stamps[parse_seq(r.command_id)] - upstream_s) * 1000 for r in received
    ]
    # Where the time goes: publish -> the system has the command (fetch, admission), and the
    # command's time inside the system (both clocks are this machine's).
    by_intake = [
        (r.taken_at - stamps[parse_seq(r.command_id)]) * 1000
        for r in received
        if r.taken_at is not None
    ]
    # Kept for a look at where in the round the slow commands were (publish time, latency).
    (stack.run_dir / f"latencies-{topics.prefix}.json").write_text(
        json.dumps(
            [
                (
                    stamps[parse_seq(r.command_id)],
                    round(lat, 2),
                    None
                    if r.taken_at is None
                    else round((r.taken_at - stamps[parse_seq(r.command_id)]) * 1000, 2),
                )
                for r, lat in zip(received, by_completion, strict=True)
            ]
        )
    )
    result.latency = {
        "completed_at": summarize_latency(by_completion),
        "collector_receipt": summarize_latency(by_receipt),
        **({"intake": summarize_latency(by_intake)} if by_intake else {}),
    }
    result.extra["finished"] = finished
    result.extra["rate_per_s"] = rate
    result.extra["live_per_s"] = round(
        live_rate(stamps, [r.completed_at for r in received], LIVE_SKIP_S), 1
    )
    if state_write is not None:
        result.extra["state_write_ms"] = state_write
    if loop_lag is not None:
        result.extra["loop_lag_ms"] = loop_lag
    acks = _ack_quantiles(ack_times_path(stack.run_dir, topics))
    if acks is not None:
        result.extra["result_ack_ms"] = acks
    state_acks = _ack_quantiles(state_ack_times_path(stack.run_dir, topics))
    if state_acks is not None:
        result.extra["state_ack_ms"] = state_acks
    result.extra["load_publish_per_s"] = round(loaded["published"] / loaded["elapsed_s"], 1)
    return result, collector
