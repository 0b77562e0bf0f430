"""A running gateway for integration tests: worker + sandbox + a collector of its outputs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from wawp_gateway.core.config import ReceiverSettings, Settings, TrackerProcessSettings
from wawp_gateway.core.contracts import RESULT_SCHEMA
from wawp_gateway.core.instances import InstanceConfig, InstancesConfig, RateLimitConfig
from wawp_gateway.core.kafka import connection_options, create_topics
from wawp_gateway.core.sections import (
    EngineSettings,
    KafkaSettings,
    MetricsSettings,
    RetrySettings,
    ShutdownSettings,
    TopicsSettings,
    TrackerSettings,
    WawpSettings,
    WebhookSettings,
)
from wawp_gateway.core.tracing import Tracing
from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox
from wawp_gateway.tracker.service import Tracker, running_tracker
from wawp_gateway.webhook.server import running_webhook
from wawp_gateway.worker.app import WorkerApp, build_worker

TEST_TOKEN = "test-token-5f1d9c0e7a"
# Instances with a binding rate limit (the rest of the pool is effectively unlimited).
LIMITED = tuple(f"LIMITED{n:05d}" for n in range(1, 21))
LIMITED_RATE_PER_MINUTE = 1_200  # 20 calls/s
LIMITED_BURST = 3
# Unlimited instances handed out by partition, for "a neighbour of X" in head-of-line tests.
SPARE = tuple(f"SPARE{n:07d}" for n in range(1, 81))
PARTITIONS = 4
DEADLINE_S = 30.0


def topics_for(prefix: str) -> TopicsSettings:
    return TopicsSettings(
        send=f"{prefix}.send",
        command=f"{prefix}.command",
        results=f"{prefix}.results",
        events=f"{prefix}.events",
        delivery=f"{prefix}.delivery",
        dlq=f"{prefix}.dlq",
        state=f"{prefix}.state",
        instances=f"{prefix}.instances",
        sessions=f"{prefix}.sessions",
    )


def gateway_settings(
    bootstrap: str,
    sandbox_url: str,
    prefix: str,
    instances: Iterable[str],
    *,
    security: Mapping[str, Any] | None = None,
    **sections: Any,
) -> Settings:
    """Settings of a test worker: fast group timings, tiny backoff, a short Wawp timeout.
    ``security``: the ``GATEWAY_KAFKA__*`` security fields (TLS, SASL) of a secured broker."""
    values: dict[str, Any] = {
        "kafka": KafkaSettings(
            **(security or {}),
            bootstrap_servers=bootstrap,
            group_id=f"{prefix}-group",
            session_timeout_ms=3000,
            heartbeat_interval_ms=500,
            rebalance_timeout_ms=3000,
            fetch_max_wait_ms=10,
            commit_interval_ms=200,
            partitions=PARTITIONS,
            reply_to_timeout_s=3,
        ),
        "topics": topics_for(prefix),
        "wawp": WawpSettings(
            base_url=f"{sandbox_url}/wp-json/awp/v1",
            v2_base_url=sandbox_url,
            access_token=TEST_TOKEN,  # type: ignore[arg-type]
            timeout_s=1.0,
        ),
        "retry": RetrySettings(
            max_attempts=4, max_elapsed_s=30, backoff_initial_s=0.01, backoff_max_s=0.05
        ),
        "metrics": MetricsSettings(host="127.0.0.1", port=0),
        "shutdown": ShutdownSettings(grace_s=5),
        # Limits far above what a test sends: rate-limit tests set their own.
        "instances": InstancesConfig(
            defaults=RateLimitConfig(rate_per_minute=600_000, burst=1_000),
            instances={
                **{i: InstanceConfig() for i in (*instances, *SPARE)},
                **{
                    i: InstanceConfig(rate_per_minute=LIMITED_RATE_PER_MINUTE, burst=LIMITED_BURST)
                    for i in LIMITED
                },
            },
        ),
        "engine": EngineSettings(circuit_threshold=3, circuit_cooldown_s=1.0),
    }
    values.update(sections)
    return Settings(**values)


@dataclass
class Collected:
    results: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    dlq: list[Any] = field(default_factory=list)
    by_topic: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))


class OutputCollector:
    """Reads output topics from the beginning in the background; tests await what they expect."""

    def __init__(self, bootstrap: str | KafkaSettings, topics: Iterable[str]) -> None:
        self._kafka = (
            KafkaSettings(bootstrap_servers=bootstrap) if isinstance(bootstrap, str) else bootstrap
        )
        self._topics = list(topics)
        self.seen = Collected()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        await create_topics(self._kafka, self._topics, partitions=PARTITIONS)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
            **connection_options(self._kafka),
        )
        await self._consumer.start()
        await self.follow(self._topics)
        self._task = asyncio.create_task(self._run())

    async def follow(self, topics: Iterable[str]) -> None:
        """Also read ``topics`` (e.g. a reply_to topic, created here) from their beginning."""
        assert self._consumer is not None
        await create_topics(self._kafka, topics, partitions=PARTITIONS)
        wanted = set(self._topics) | set(topics)
        tps = set(self._consumer.assignment())
        for topic in wanted:
            tps.update(TopicPartition(topic, p) for p in range(PARTITIONS))
        new = tps - set(self._consumer.assignment())
        self._consumer.assign(list(tps))
        for tp in new:
            self._consumer.seek(tp, 0)
        self._topics = sorted(wanted)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            if not batch:
                continue
            async with self._changed:
                for records in batch.values():
                    for record in records:
                        self._store(record)
                self._changed.notify_all()

    def _store(self, record: Any) -> None:
        self.seen.by_topic[record.topic].append(record)
        if record.topic.endswith(".dlq"):
            self.seen.dlq.append(record)
            return
        try:
            value = json.loads(record.value)
        except (TypeError, ValueError):
            return
        # Results only: delivery records (and any other record) carry a command_id too, and one
        # read before its command's result would stand in for it.
        if isinstance(value, dict) and value.get("schema") == RESULT_SCHEMA:
            self.seen.results[value["command_id"]].append(value)

    async def wait_for(self, predicate: Any, deadline_s: float = DEADLINE_S) -> Any:
        async def check() -> Any:
            async with self._changed:
                while not (found := predicate(self.seen)):
                    await self._changed.wait()
                return found

        return await asyncio.wait_for(check(), deadline_s)

    async def result(self, command_id: str, deadline_s: float = DEADLINE_S) -> dict[str, Any]:
        found = await self.wait_for(lambda s: s.results.get(command_id), deadline_s)
        return dict(found[0])

    async def dlq_for(self, command_id: str, deadline_s: float = DEADLINE_S) -> Any:
        def match(seen: Collected) -> Any:
            for record in seen.dlq:
                try:
                    if json.loads(record.value).get("id") == command_id:
                        return record
                except (TypeError, ValueError, AttributeError):
                    continue
            return None

        return await self.wait_for(match, deadline_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()


def command(instance_id: str, action: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "schema": "wawp.command.v1",
        "id": extra.pop("id", None) or str(uuid.uuid4()),
        "instance_id": instance_id,
        "action": action,
        "params": params,
        **extra,
    }


@dataclass
class Gateway:
    settings: Settings
    app: WorkerApp
    sandbox: Sandbox
    outputs: OutputCollector
    producer: AIOKafkaProducer

    async def publish(
        self,
        value: dict[str, Any] | bytes,
        *,
        topic: str | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        if isinstance(value, dict):
            raw = json.dumps(value).encode()
            key = key or str(value.get("instance_id", "")).encode() or None
        else:
            raw = value
        await self.producer.send_and_wait(
            topic or self.settings.topics.command,
            raw,
            key=key,
            partition=partition,
            headers=headers,
        )

    async def run(self, cmd: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Publish ``cmd`` and return its result."""
        await self.publish(cmd, **kwargs)
        return await self.outputs.result(cmd["id"])


@asynccontextmanager
async def running_gateway(
    settings: Settings,
    sandbox: Sandbox,
    *,
    create: bool = True,
    wawp: Any = None,
    tracing: Tracing | None = None,
) -> AsyncIterator[Gateway]:
    if create:
        await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    outputs = OutputCollector(settings.kafka, [settings.topics.results, settings.topics.dlq])
    await outputs.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        linger_ms=0,
        **connection_options(settings.kafka),
    )
    await producer.start()
    stopping = asyncio.Event()
    try:
        async with build_worker(settings, wawp=wawp, tracing=tracing) as app:
            task = asyncio.create_task(app.worker.run(stopping))
            await asyncio.wait_for(app.worker.assigned.wait(), DEADLINE_S)
            try:
                yield Gateway(settings, app, sandbox, outputs, producer)
            finally:
                stopping.set()
                await asyncio.wait_for(task, DEADLINE_S)
    finally:
        await producer.stop()
        await outputs.stop()


@dataclass
class DeliveryStack:
    """A private gateway with its webhook receiver and delivery tracker, and a sandbox posting
    its webhooks (acks SERVER -> DEVICE -> READ) to that receiver."""

    gateway: Gateway
    settings: Settings
    tracker: Tracker
    registry: CollectorRegistry


@dataclass
class Delivering:
    """A running webhook receiver (the sandbox posts to it) and a running delivery tracker."""

    webhook_port: int
    tracker: Tracker


@asynccontextmanager
async def receiving_and_tracking(
    settings: Settings,
    sandbox: Sandbox,
    *,
    ack_timeout_s: float = 30,
    registry: CollectorRegistry | None = None,
    tracing: Tracing | None = None,
) -> AsyncIterator[Delivering]:
    """The receiver and tracker of ``settings``' topics, the sandbox's webhooks pointed at it."""
    secret = f"{settings.kafka.group_id}-hook-secret"
    receiver = ReceiverSettings(
        kafka=settings.kafka.model_copy(update={"request_timeout_ms": 3000}),
        topics=settings.topics,
        webhook=WebhookSettings(host="127.0.0.1", port=0, secret=SecretStr(secret)),
    )
    tracking = TrackerProcessSettings(
        kafka=settings.kafka,
        topics=settings.topics,
        metrics=MetricsSettings(host="127.0.0.1", port=0),
        tracker=TrackerSettings(ack_timeout_s=ack_timeout_s),
    )
    async with (
        running_webhook(receiver) as (webhook_port, _),
        running_tracker(tracking, registry, tracing=tracing) as tracker,
    ):
        sandbox.set_webhook(f"http://127.0.0.1:{webhook_port}/webhooks/wawp", secret=secret)
        stopping = asyncio.Event()
        task = asyncio.create_task(tracker.run(stopping))
        try:
            yield Delivering(webhook_port, tracker)
        finally:
            stopping.set()
            await asyncio.wait_for(task, 10)
            sandbox.set_webhook(None)


@asynccontextmanager
async def running_delivery_stack(
    bootstrap: str,
    prefix: str,
    instance: str,
    *,
    ack_timeout_s: float = 30,
    security: Mapping[str, Any] | None = None,
    tracing: Tracing | None = None,
) -> AsyncIterator[DeliveryStack]:
    """``tracing`` records the worker's and the tracker's spans (else: propagation only)."""
    sandbox = Sandbox(
        SandboxConfig.model_validate(
            {"instances": {instance: TEST_TOKEN}, "ack_delays_ms": (10, 20, 30)}
        )
    )
    registry = CollectorRegistry()
    try:
        async with running_sandbox(sandbox) as url:
            settings = gateway_settings(bootstrap, url, prefix, [instance], security=security)
            async with (
                running_gateway(settings, sandbox, tracing=tracing) as gateway,
                receiving_and_tracking(
                    settings,
                    sandbox,
                    ack_timeout_s=ack_timeout_s,
                    registry=registry,
                    tracing=tracing,
                ) as delivering,
            ):
                yield DeliveryStack(gateway, settings, delivering.tracker, registry)
    finally:
        await sandbox.aclose()


async def logged_port(stderr: asyncio.StreamReader, event_name: str, lines: list[bytes]) -> int:
    """The ``port`` of a process's first JSON log line named ``event_name`` (lines kept for the
    failure message)."""
    while True:
        line = await stderr.readline()
        assert line, b"".join(lines)
        lines.append(line)
        event = json.loads(line)
        if event.get("event") == event_name:
            return int(event["port"])
