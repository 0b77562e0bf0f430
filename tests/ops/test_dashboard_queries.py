"""Every query of the Grafana dashboard returns data from a real Prometheus scraping a running
gateway (worker, webhook receiver, tracker) under a workload that must feed each of its panels.

The workload has three parts. A stalled instance: its first send hangs (released at the end), the
sends queued behind it fill its buffer, so its partition pauses and lags and the gauges of work in
progress stay up. An instance whose session is STOPPED: its first send's session_not_working
opens its circuit (a long cool-down keeps it open), then its session is reported FAILED through
the receiver and one more send waits, held. Traffic: rounds of
commands of several actions ending in every status, with retries, a rate-limited burst, a
duplicate, dead letters, and sends acknowledged up to READ or only to SERVER (an ack timeout),
one round per scrape of the worker so that each counter moves between two samples.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from examples import valid_params
from integration.harness import (
    PARTITIONS,
    TEST_TOKEN,
    Gateway,
    command,
    gateway_settings,
    receiving_and_tracking,
    running_gateway,
)
from wawp_gateway.core.instances import InstanceConfig, InstancesConfig
from wawp_gateway.core.partitioning import partition_for
from wawp_gateway.core.sections import EngineSettings, RetrySettings, WawpSettings
from wawp_gateway.ops.rows import panel_queries
from wawp_gateway.sandbox import FaultRule, Sandbox, SandboxConfig, running_sandbox

from .prometheus import PrometheusServer, Sample, running_prometheus

pytestmark = pytest.mark.kafka

WORKER_JOB = "wawp-gateway-worker"
WEBHOOK_JOB = "wawp-gateway-webhook"
TRACKER_JOB = "wawp-gateway-tracker"
RATE_INTERVAL = "1m"
# Sends that reach DEVICE sooner count as delivered; the SERVER-only ones time out after it.
ACK_TIMEOUT_S = 2.0
# The stalled instance's sends: the hung one plus those queued behind it fill its buffer.
STALLED_SENDS = 8
# The limited instance's budget, and a burst sent to it in separate chats (separate lanes, so
# its calls contend for the budget at once, however slowly each is processed): one call goes,
# the others wait for the next tokens.
LIMITED_RATE_PER_MINUTE = 240
BURST = 3
# The hung call must outlast the checks; it is let go explicitly at the end.
HANG_TIMEOUT_S = 90.0
CIRCUIT_THRESHOLD = 3
UP_TIMEOUT_S = 20.0
CHECKS_TIMEOUT_S = 30.0
RESULT_DEADLINE_S = 15.0


@dataclass(frozen=True, slots=True)
class Instances:
    """The Wawp instances of the workload, one role each."""

    stalled: str  # its first send hangs
    down: str  # session STOPPED: its circuit opens
    ok: str  # everything succeeds, acks up to READ
    silent: str  # acks stop at SERVER: ack timeouts
    retried: str  # 503 once per round, then success
    unknown: str  # 500 after storing once per round: outcome_unknown
    refused: str  # 403 once per round: failed
    duplicated: str  # the same idempotency key twice per round
    limited: str  # rate-limited, sent a burst


def _instances() -> Instances:
    """Every instance but the stalled one outside its partition: the paused partition must not
    hold back the rest of the workload."""
    stalled = "DASHSTALL001"
    taken = partition_for(stalled, PARTITIONS)

    def away(candidates: Iterable[str]) -> str:
        return next(c for c in candidates if partition_for(c, PARTITIONS) != taken)

    def named(role: str) -> str:
        return away(f"DASH{role}{n:03d}" for n in itertools.count(1))

    return Instances(
        stalled=stalled,
        down=named("DOWN"),
        ok=named("OK"),
        silent=named("SILENT"),
        retried=named("RETRY"),
        unknown=named("UNKNOWN"),
        refused=named("REFUSED"),
        duplicated=named("DUP"),
        limited=named("LIMITED"),
    )


def _has_data(result: Sequence[Sample]) -> bool:
    return any(math.isfinite(s.value) and s.value != 0 for s in result)


async def _wait_for(
    prom: PrometheusServer,
    expr: str,
    predicate: Callable[[list[Sample]], bool],
    within_s: float,
) -> list[Sample]:
    # The server's client blocks: in a thread, the gateway's event loop keeps serving /metrics.
    return await asyncio.to_thread(prom.wait_for, expr, predicate, within_s)


@asynccontextmanager
async def _prometheus(
    targets: Mapping[str, list[str]], workdir: Path
) -> AsyncIterator[PrometheusServer]:
    manager = running_prometheus(targets, workdir)
    server = await asyncio.to_thread(manager.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


def _past() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


async def _run_round(gw: Gateway, sandbox: Sandbox, roles: Instances, n: int) -> None:
    """One of each: every action and status the dashboard breaks down, and each reason to retry,
    wait or dead-letter. Waits for every result and checks its status."""
    send, other = gw.settings.topics.send, gw.settings.topics.command
    text = valid_params("sendText")
    sandbox.add_fault(FaultRule(instance_id=roles.retried, kind="unavailable", times=1))
    sandbox.add_fault(
        FaultRule(instance_id=roles.unknown, kind="error_after_store", status=500, times=1)
    )
    sandbox.add_fault(
        FaultRule(
            instance_id=roles.refused, kind="wawp_error", status=403, code="forbidden", times=1
        )
    )
    key = f"dup-{n}-{uuid.uuid4().hex[:8]}"
    expected: list[tuple[dict[str, Any], str, str]] = [
        (command(roles.ok, "sendText", text), send, "succeeded"),
        (command(roles.ok, "sendImage", valid_params("sendImage")), send, "succeeded"),
        (command(roles.ok, "getSessionInfo", {}), other, "succeeded"),
        (command(roles.ok, "sendFax", {}), other, "rejected"),
        (command(roles.ok, "sendText", text, not_after=_past()), send, "expired"),
        (command(roles.silent, "sendText", text), send, "succeeded"),
        (command(roles.retried, "sendText", text), send, "succeeded"),
        (command(roles.unknown, "sendText", text), send, "outcome_unknown"),
        # A success after the 500 in the same lane: failures must not add up across rounds to
        # open this instance's circuit.
        (command(roles.unknown, "sendText", text), send, "succeeded"),
        (command(roles.refused, "sendText", text), send, "failed"),
        (command(roles.duplicated, "sendText", text, idempotency_key=key), send, "succeeded"),
        (command(roles.duplicated, "sendText", text, idempotency_key=key), send, "duplicate"),
    ]
    burst = [
        command(roles.limited, "sendText", {**text, "chatId": f"4474414291{i:02d}@c.us"})
        for i in range(BURST)
    ]
    for cmd, topic, _ in expected:
        await gw.publish(cmd, topic=topic)
    await asyncio.gather(*(gw.publish(cmd, topic=send) for cmd in burst))
    expected += [(cmd, send, "succeeded") for cmd in burst]
    statuses = [
        (cmd["instance_id"], cmd["action"], (await gw.outputs.result(cmd["id"]))["status"])
        for cmd, _, _ in expected
    ]
    assert statuses == [(c["instance_id"], c["action"], s) for c, _, s in expected]


async def _traffic(
    gw: Gateway, sandbox: Sandbox, roles: Instances, prom: PrometheusServer, done: asyncio.Event
) -> int:
    """Rounds until ``done``, each after a scrape of the worker that followed the last one; the
    number of rounds run."""
    n = 0
    while True:
        n += 1
        await _run_round(gw, sandbox, roles, n)
        ended = time.time()
        if done.is_set():
            return n
        await _wait_for(
            prom,
            f'timestamp(up{{job="{WORKER_JOB}"}})',
            lambda result, after=ended: bool(result) and result[0].value > after,
            within_s=UP_TIMEOUT_S,
        )


async def _hold_down_instance(gw: Gateway, sandbox: Sandbox, roles: Instances) -> None:
    """One session_not_working answer opens the circuit at once; then a FAILED status through
    the receiver, and a send that waits, held, for the rest of the test."""
    params = valid_params("sendText")
    cmd = command(roles.down, "sendText", {**params, "message": "d0"})
    result = await gw.run(cmd, topic=gw.settings.topics.send)
    assert (result["status"], result["error"]["code"]) == ("failed", "session_not_working")
    sandbox.set_session_status(roles.down, "FAILED")
    held = command(roles.down, "sendText", {**params, "message": "held"})
    await gw.publish(held, topic=gw.settings.topics.send)


async def _check_every_panel(prom: PrometheusServer) -> tuple[list[str], list[str]]:
    """Each panel query, waited for until it has data (one deadline for all): the values seen,
    and the queries that returned nothing usable with what they returned."""
    seen: list[str] = []
    empty: list[str] = []
    deadline = time.monotonic() + CHECKS_TIMEOUT_S
    for title, expr in panel_queries(rate_interval=RATE_INTERVAL):
        try:
            result = await _wait_for(
                prom, expr, _has_data, within_s=max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            last = await asyncio.to_thread(prom.query, expr)
            empty.append(f"{title}: {expr}\n    returned {_show(last) or 'no series'}")
        else:
            seen.append(f"{title}: {_show(result)}")
    return seen, empty


def _release(sandbox: Sandbox) -> None:
    """Let go of the hung call (no answer: the sandbox is closing) and of every fault, so that
    the sends queued behind it go through and the gateway stops without waiting."""
    sandbox.clear_faults()
    sandbox.closing.set()


def _show(result: Sequence[Sample]) -> str:
    return ", ".join(
        "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + f"}} {s.value:.4g}"
        for s in result
    )


async def test_every_dashboard_query_returns_data_under_a_known_workload(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Each panel query returns at least one finite, non-zero series while the workload runs."""
    roles = _instances()
    sandbox = Sandbox(
        SandboxConfig.model_validate({"instances": dict.fromkeys(astuple(roles), TEST_TOKEN)})
    )
    sandbox.add_instance(roles.silent, TEST_TOKEN, final_ack=1)
    sandbox.add_instance(roles.down, TEST_TOKEN, status="STOPPED")
    sandbox.add_fault(FaultRule(instance_id=roles.stalled, kind="hang"))
    prefix = f"dash-{uuid.uuid4().hex[:8]}"
    async with running_sandbox(sandbox) as url:
        settings = gateway_settings(
            kafka_bootstrap,
            url,
            prefix,
            astuple(roles),
            wawp=WawpSettings(
                base_url=f"{url}/wp-json/awp/v1",
                v2_base_url=url,
                access_token=SecretStr(TEST_TOKEN),
                timeout_s=HANG_TIMEOUT_S,
            ),
            engine=EngineSettings(
                circuit_threshold=CIRCUIT_THRESHOLD,
                # Longer than the test: the circuit stays open while it is checked.
                circuit_cooldown_s=600,
                max_buffered_per_instance=STALLED_SENDS,
            ),
            # Longer than the test: the held send stays held while the panels are checked.
            retry=RetrySettings(
                max_attempts=4, max_elapsed_s=600, backoff_initial_s=0.01, backoff_max_s=0.05
            ),
        )
        # gateway_settings' `instances` is the list of ids: the limits are replaced afterwards.
        limits = InstancesConfig(
            defaults=settings.instances.defaults,
            instances={
                **{i: InstanceConfig() for i in astuple(roles)},
                roles.limited: InstanceConfig(rate_per_minute=LIMITED_RATE_PER_MINUTE, burst=1),
            },
        )
        settings = settings.model_copy(update={"instances": limits})
        async with (
            running_gateway(settings, sandbox) as gw,
            receiving_and_tracking(settings, sandbox, ack_timeout_s=ACK_TIMEOUT_S) as delivering,
        ):
            webhook_port, tracker = delivering.webhook_port, delivering.tracker
            stalled = [
                command(roles.stalled, "sendText", {**valid_params("sendText"), "message": f"s{i}"})
                for i in range(STALLED_SENDS)
            ]
            targets = {
                WORKER_JOB: [f"127.0.0.1:{gw.app.metrics_port}"],
                WEBHOOK_JOB: [f"127.0.0.1:{webhook_port}"],
                TRACKER_JOB: [f"127.0.0.1:{tracker.metrics_port}"],
            }
            done = asyncio.Event()
            traffic: asyncio.Task[int] | None = None
            try:
                async with _prometheus(targets, tmp_path) as prom:
                    # Given: a stalled partition, an open circuit, traffic going on
                    for cmd in stalled:
                        await gw.publish(cmd, topic=settings.topics.send)
                    await _hold_down_instance(gw, sandbox, roles)
                    traffic = asyncio.create_task(_traffic(gw, sandbox, roles, prom, done))
                    up = await _wait_for(
                        prom,
                        "up == 1",
                        lambda r: {s.labels["job"] for s in r} == set(targets),
                        within_s=UP_TIMEOUT_S,
                    )
                    assert len(up) == len(targets)

                    # When: each panel query is run against what Prometheus scraped
                    seen, empty = await _check_every_panel(prom)

                    done.set()
                    rounds = await traffic
                    _release(sandbox)
                    ends = [await gw.outputs.result(c["id"], RESULT_DEADLINE_S) for c in stalled]
            finally:
                done.set()
                if traffic is not None and not traffic.done():
                    await asyncio.wait({traffic}, timeout=RESULT_DEADLINE_S)
                _release(sandbox)
    await sandbox.aclose()

    # Then
    assert empty == [], (
        f"{len(empty)} dashboard queries returned no non-zero series after {rounds} rounds:\n"
        + "\n".join(empty)
        + "\nreturned data:\n"
        + "\n".join(seen)
    )
    # The hung send got no answer (maybe sent); the ones queued behind it went through.
    assert [e["status"] for e in ends] == ["outcome_unknown"] + ["succeeded"] * (STALLED_SENDS - 1)
