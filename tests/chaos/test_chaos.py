"""Chaos: worker processes killed with kill -9 (mostly while the sandbox holds one of their
calls), replaced, added and removed while thousands of sends over hundreds of chats flow.

Every command must end with a terminal result, the sandbox must receive no command twice and
every chat's commands in order, only calls caught by a kill may end ``outcome_unknown``, and only
a kill may answer a command twice (the graceful stops and additions give one result each).
Small by default (part of ``make test``); ``make chaos`` runs 20,000 commands with 10 kills.
Size knobs: ``CHAOS_COMMANDS``, ``CHAOS_KILLS``, ``CHAOS_WORKERS``, ``CHAOS_SECONDS``,
``CHAOS_SEED`` (and ``CHAOS_INSTANCES``, ``CHAOS_CHATS``, ``CHAOS_PARTITIONS``,
``CHAOS_MAX_IN_FLIGHT``, ``CHAOS_RECONCILE=1``); see ``harness.ChaosSize``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.sections import KafkaSettings
from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox

from .fleet import (
    Chaos,
    Fleet,
    chaos_plan,
    topic_names,
    worker_env,
    worker_log_problems,
    write_instances_file,
)
from .harness import TOKEN, ChaosSize, OutputReader, build_workload, publish_paced
from .verdict import judge, keep_record

SIZE = ChaosSize.from_env()
START_DEADLINE_S = 60.0
IDLE_DEADLINE_S = 60.0  # longest the results may stall before the run counts as stuck
STOP_DEADLINE_S = 30.0


@pytest.mark.chaos
@pytest.mark.kafka
@pytest.mark.timeout(SIZE.timeout_s)
async def test_kill_9_under_load_loses_no_command_and_sends_none_twice(
    kafka_bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    size = SIZE
    prefix = unique("chaos")
    instances, commands = build_workload(size, run_id=prefix.rsplit("-", 1)[1])
    topics = topic_names(prefix)
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    await create_topics(kafka, topics.values(), partitions=size.partitions)
    sandbox = Sandbox(
        SandboxConfig.model_validate(
            {
                "instances": dict.fromkeys(instances, TOKEN),
                "latency_ms": size.latency_ms,
                "latency_jitter_ms": size.latency_jitter_ms,
                "seed": size.seed,
            }
        )
    )
    rng = random.Random(size.seed)
    reader = OutputReader(kafka_bootstrap, topics["RESULTS"], topics["DLQ"], size.partitions)
    async with running_sandbox(sandbox) as url:
        env = worker_env(
            bootstrap=kafka_bootstrap,
            prefix=prefix,
            sandbox_url=url,
            instances_file=write_instances_file(tmp_path / "instances.toml", instances),
            size=size,
        )
        fleet = Fleet(env, tmp_path / "workers")
        chaos = Chaos(fleet, sandbox, int(urlsplit(url).port or 0), rng)
        try:
            await reader.start()
            # Given: the workers, all assigned
            first = [fleet.start() for _ in range(size.workers)]
            await fleet.wait_assigned(first, START_DEADLINE_S)
            chaos.started = started = time.monotonic()
            # When: the commands flow while workers are killed, replaced, added and removed
            publish_s, _ = await asyncio.gather(
                publish_paced(kafka_bootstrap, topics["SEND"], commands, size.window_s),
                chaos.run(chaos_plan(size.kills, rng), size.window_s),
            )
            await reader.wait_for_all({c.command_id for c in commands}, IDLE_DEADLINE_S)
            duration_s = time.monotonic() - started
            crashed = [w.name for w in fleet.everyone if w.fate == "running" and not w.alive()]
            exits = await fleet.stop_all(STOP_DEADLINE_S)
        finally:
            fleet.close()
            await reader.stop()

    # Then: the results topic and the sandbox's own log agree with every promise
    verdict = judge(
        commands,
        reader.seen.results,
        sandbox.requests(),
        chaos.kills,
        size.max_in_flight,
        reader.seen.dlq_reasons,
    )
    problems = verdict.problems(size.kills) + _process_problems(crashed, exits, chaos)
    record = keep_record(
        tmp_path / "run.json", sandbox.requests(), reader.seen.results, chaos.kills, chaos.timeline
    )
    summary = "\n".join(
        [
            f"chaos run: seed {size.seed}, {size.workers} workers, {size.partitions} partitions,"
            f" {size.instances} instances, max in flight {size.max_in_flight}, sandbox latency"
            f" {size.latency_ms:.0f}-{size.latency_ms + size.latency_jitter_ms:.0f} ms,"
            f" reconciliation {'on' if size.reconcile else 'off'}",
            f"duration             {duration_s:.1f} s (publishing {publish_s:.1f} s)",
            *verdict.summary_lines(),
            *_fleet_lines(fleet, chaos, exits),
            f"worker logs, record  {tmp_path / 'workers'}, {record}",
            "timeline:",
            *(f"  {line}" for line in chaos.timeline),
            *(["PROBLEMS:", *(f"  {p}" for p in problems)] if problems else ["all checks passed"]),
        ]
    )
    print("\n" + summary)
    assert not problems, summary


def _process_problems(crashed: list[str], exits: dict[str, int | None], chaos: Chaos) -> list[str]:
    """Workers that died unasked, or did not stop cleanly on SIGTERM (a hang shows as None)."""
    found = []
    if crashed:
        found.append(f"worker(s) exited by themselves: {crashed}")
    unclean = {name: code for name, code in exits.items() if code != 0}
    if unclean or any(code != 0 for code in chaos.removed_exit):
        found.append(
            f"SIGTERM did not stop worker(s) cleanly (None: still running after"
            f" {STOP_DEADLINE_S:.0f} s): {unclean}, removed worker: {chaos.removed_exit}"
        )
    return found


def _fleet_lines(fleet: Fleet, chaos: Chaos, exits: dict[str, int | None]) -> list[str]:
    log_problems = worker_log_problems(fleet.everyone)
    warnings = ", ".join(f"{e} x{n}" for e, n in log_problems.most_common(8)) or "none"
    return [
        f"rebalances           {chaos.membership_changes} membership changes,"
        f" {fleet.assignments()} partition assignments logged",
        f"worker processes     {len(fleet.everyone)} started; exits on SIGTERM {exits},"
        f" removed worker {chaos.removed_exit}",
        f"worker warnings      {warnings}",
    ]
