"""The systems under test and how each is started: topics, group, process, settings.

Every run of a system gets its own topics (a unique prefix) and its own consumer group, so a
backlog published for one system is never consumed by another.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench.harness import Proc, ProcessGroup, free_port
from bench.workload import TOKEN
from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.sections import KafkaSettings
from wawp_gateway.core.tracing import NO_TRACE_CONTEXT_ENV

__all__ = [
    "PARTITIONS",
    "RateLimits",
    "SystemSpec",
    "Topics",
    "ack_times_path",
    "launch",
    "make_topics",
    "state_ack_times_path",
]

PARTITIONS = 12
Kind = Literal["gateway", "raw", "write-ahead", "naive"]

# Fast group joins on the embedded broker (docs/embedded-broker.md); the same for every system.
# A join takes about half the session timeout; --quick uses the tests' 3000 ms.
_HEARTBEAT_MS = 500
_REBALANCE_TIMEOUT_MS = 3000


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str

    def name(self, role: str) -> str:
        return f"{self.prefix}.{role}"

    @property
    def send(self) -> str:
        return self.name("send")

    @property
    def results(self) -> str:
        return self.name("results")

    def all(self) -> list[str]:
        # The instance registry and the session statuses too: a worker follows both from start.
        roles = ("send", "command", "results", "dlq", "state", "instances", "sessions")
        return [self.name(r) for r in roles]


async def make_topics(bootstrap: str, topics: Topics) -> None:
    await create_topics(
        KafkaSettings(bootstrap_servers=bootstrap), topics.all(), partitions=PARTITIONS
    )


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The instances file: every instance listed, defaults high enough never to bind."""

    rate_per_minute: float = 6_000_000.0
    burst: int = 100_000
    overrides: dict[str, tuple[float, int]] = field(default_factory=dict)

    def to_toml(self, instance_ids: list[str]) -> str:
        lines = ["[defaults]", f"rate_per_minute = {self.rate_per_minute}", f"burst = {self.burst}"]
        for instance_id in instance_ids:
            lines.append(f"\n[instances.{instance_id}]")
            if instance_id in self.overrides:
                rate, burst = self.overrides[instance_id]
                lines += [f"rate_per_minute = {rate}", f"burst = {burst}"]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class SystemSpec:
    kind: Kind
    fetch_wait_ms: int = 50
    loop: Literal["uvloop", "asyncio"] = "uvloop"  # baselines only; the worker picks its own
    # The gateway only: "on" (the default: trace context propagated, no span recorded), "off"
    # (propagation removed, the cost's baseline) or "otlp" (spans exported to ``otlp_endpoint``).
    trace: Literal["on", "off", "otlp"] = "on"
    otlp_endpoint: str | None = None
    http_stack: str = ""  # gateway only: GATEWAY_WAWP__HTTP_STACK, "" = the default
    # Gateway only (``python -m bench.ab``): a directory holding a ``wawp_gateway`` package to
    # run instead of the installed one (another checkout's ``service/``), and its name.
    source: Path | None = None
    variant: str = ""
    # The raw and write-ahead loops only: CPU spent per command (``bench/baselines/raw.py``).
    burn_us: int = 0

    @property
    def label(self) -> str:
        name = {
            "gateway": "gateway",
            "raw": "raw",
            "write-ahead": "write-ahead",
            "naive": "faststream-naive",
        }[self.kind]
        suffix = " (asyncio)" if self.kind == "raw" and self.loop == "asyncio" else ""
        suffix += {"on": "", "off": " (no trace context)", "otlp": " (spans over OTLP)"}[self.trace]
        stack = f" [{self.http_stack}]" if self.http_stack else ""
        variant = f" <{self.variant}>" if self.variant else ""
        burn = f" +{self.burn_us}us" if self.burn_us else ""
        return f"{name}{suffix}{stack}{variant}{burn} fetch={self.fetch_wait_ms}ms"

    @property
    def slug(self) -> str:
        loop = "-asyncio" if self.kind == "raw" and self.loop == "asyncio" else ""
        trace = "" if self.trace == "on" else f"-trace{self.trace}"
        stack = f"-{self.http_stack}" if self.http_stack else ""
        variant = f"-{self.variant}" if self.variant else ""
        burn = f"-burn{self.burn_us}" if self.burn_us else ""
        return f"{self.kind}{loop}{trace}{stack}{variant}{burn}-f{self.fetch_wait_ms}"


def ack_times_path(run_dir: Path, topics: Topics) -> Path:
    """Where the raw baseline writes its results' acknowledgement times when it stops."""
    return run_dir / f"acks-{topics.prefix}.json"


def state_ack_times_path(run_dir: Path, topics: Topics) -> Path:
    """Where the write-ahead baseline writes its in_progress records' acknowledgement times."""
    return run_dir / f"state-acks-{topics.prefix}.json"


def launch(
    group: ProcessGroup,
    spec: SystemSpec,
    *,
    topics: Topics,
    bootstrap: str,
    sandbox_url: str,
    instance_ids: list[str],
    limits: RateLimits,
    run_dir: Path,
    session_timeout_ms: int = 6000,
) -> Proc:
    name = f"{topics.prefix}"
    common = [
        "--bootstrap",
        bootstrap,
        "--group",
        f"{topics.prefix}.group",
        "--send-topic",
        topics.send,
        "--results-topic",
        topics.results,
        "--base-url",
        sandbox_url + "/wp-json/awp/v1",
        "--token",
        TOKEN,
        "--fetch-wait-ms",
        str(spec.fetch_wait_ms),
        "--session-timeout-ms",
        str(session_timeout_ms),
    ]
    if spec.kind in ("raw", "write-ahead"):
        argv = [sys.executable, "-m", "bench.baselines.raw", *common, "--loop", spec.loop]
        if spec.burn_us:
            argv += ["--burn-us", str(spec.burn_us)]
        argv += ["--ack-times", str(ack_times_path(run_dir, topics))]
        if spec.kind == "write-ahead":
            argv += ["--state-topic", topics.name("state")]
            argv += ["--state-ack-times", str(state_ack_times_path(run_dir, topics))]
        return group.spawn(name, argv)
    if spec.kind == "naive":
        return group.spawn(
            name, [sys.executable, "-m", "bench.baselines.faststream_naive", *common]
        )
    metrics_port = free_port()
    instances_file = run_dir / f"{topics.prefix}.instances.toml"
    instances_file.write_text(limits.to_toml(instance_ids))
    env = {
        "GATEWAY_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "GATEWAY_KAFKA__GROUP_ID": f"{topics.prefix}.group",
        "GATEWAY_KAFKA__CLIENT_ID": topics.prefix,
        "GATEWAY_KAFKA__FETCH_MAX_WAIT_MS": str(spec.fetch_wait_ms),
        "GATEWAY_KAFKA__SESSION_TIMEOUT_MS": str(session_timeout_ms),
        "GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS": str(_HEARTBEAT_MS),
        "GATEWAY_KAFKA__REBALANCE_TIMEOUT_MS": str(_REBALANCE_TIMEOUT_MS),
        "GATEWAY_TOPICS__SEND": topics.send,
        "GATEWAY_TOPICS__COMMAND": topics.name("command"),
        "GATEWAY_TOPICS__RESULTS": topics.results,
        "GATEWAY_TOPICS__DLQ": topics.name("dlq"),
        "GATEWAY_TOPICS__STATE": topics.name("state"),
        "GATEWAY_TOPICS__EVENTS": topics.name("events"),
        "GATEWAY_TOPICS__DELIVERY": topics.name("delivery"),
        "GATEWAY_TOPICS__INSTANCES": topics.name("instances"),
        "GATEWAY_TOPICS__SESSIONS": topics.name("sessions"),
        "GATEWAY_WAWP__BASE_URL": sandbox_url + "/wp-json/awp/v1",
        "GATEWAY_WAWP__V2_BASE_URL": sandbox_url,
        "GATEWAY_WAWP__ACCESS_TOKEN": TOKEN,
        "GATEWAY_INSTANCES_FILE": str(instances_file),
        "GATEWAY_METRICS__HOST": "127.0.0.1",
        "GATEWAY_METRICS__PORT": str(metrics_port),
        "GATEWAY_LOG__LEVEL": "warning",
        "GATEWAY_LOG__FORMAT": "json",
        # Stopping a run must not wait 30 s for commands the harness no longer counts.
        "GATEWAY_SHUTDOWN__GRACE_S": "3",
        # Set for every gateway run, so an exporter configured in the shell never leaks in.
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "",
    }
    if spec.trace == "off":
        env[NO_TRACE_CONTEXT_ENV] = "1"
    elif spec.trace == "otlp":
        assert spec.otlp_endpoint is not None
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = spec.otlp_endpoint
        env["OTEL_SERVICE_NAME"] = "wawp-gateway-bench"
    if spec.http_stack:
        env["GATEWAY_WAWP__HTTP_STACK"] = spec.http_stack
    if spec.source is not None:
        # Ahead of the installed (editable) package on the path (and of what the caller's path
        # holds: bench.ab's probes); the harness adds its own root.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(spec.source), os.environ.get("PYTHONPATH")])
        )
    proc = group.spawn(name, [sys.executable, "-m", "wawp_gateway", "worker"], env=env)
    proc.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    return proc
