"""Composition root: async context managers that wire each long-running process together."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from wawp_gateway.core.config import Settings
from wawp_gateway.core.contracts import DlqReason
from wawp_gateway.core.errors import ConfigError, WawpError
from wawp_gateway.core.follower import CompactedTopicFollower, TopicMissing
from wawp_gateway.core.kafka import (
    build_consumer,
    build_producer,
    check_partitions,
    start_client,
)
from wawp_gateway.core.looplag import watching_loop_lag
from wawp_gateway.core.membership import GroupStanding, stop_consumer
from wawp_gateway.core.metrics import Metrics, status_class
from wawp_gateway.core.probes import serve_probes
from wawp_gateway.core.registry import InstanceRegistry
from wawp_gateway.core.runtime import tune_gc
from wawp_gateway.core.tracing import Tracing
from wawp_gateway.wawp.catalog import ACTIONS, ActionSpec
from wawp_gateway.wawp.client import WawpClient
from wawp_gateway.wawp.params import params_model
from wawp_gateway.wawp.responses import WawpReply
from wawp_gateway.wawp.transports.factory import transport_for
from wawp_gateway.worker.loop import Worker
from wawp_gateway.worker.pipeline import SystemClock, WawpPort
from wawp_gateway.worker.sessions import SessionBook
from wawp_gateway.worker.state.statelog import StateLog
from wawp_gateway.worker.state.store import open_store

__all__ = [
    "STATE_CONNECTIONS",
    "MeteredWawp",
    "WorkerApp",
    "build_worker",
    "following_registry",
    "run_worker",
    "tune_for_service",
]

# Producers (connections) for wawp.state, apart from the one for results and dead letters.
# aiokafka keeps one produce request in flight per connection, and the acknowledged in_progress
# before every call waited for the answer to whatever request was in flight, result batches
# included. With the state writes on three connections of their own (partitions spread over
# them) their time to the acknowledgement fell from 18-19 to 11-15 ms at p50 at 2,282
# commands/s (bench latency scenario, README).
STATE_CONNECTIONS = 3


class MeteredWawp:
    """Counts every Wawp call by action and status class, and times it."""

    def __init__(self, inner: WawpPort, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def call(
        self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str
    ) -> WawpReply:
        started = time.perf_counter()
        status: int | None = None
        try:
            reply = await self._inner.call(spec, params, instance_id=instance_id)
            status = reply.http_status
            return reply
        except WawpError as error:
            status = error.http_status
            raise
        finally:
            self._metrics.wawp_requests_of(spec.name, status_class(status)).inc()
            self._metrics.wawp_duration_of(spec.name).observe(time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class WorkerApp:
    worker: Worker
    consumer: AIOKafkaConsumer
    metrics: Metrics
    metrics_port: int
    partitions: int
    sessions: SessionBook


@asynccontextmanager
async def following_registry(
    settings: Settings,
) -> AsyncIterator[tuple[InstanceRegistry, CompactedTopicFollower]]:
    """The instance registry, ``wawp.instances`` read to its end and followed."""
    registry = InstanceRegistry(
        settings.instances,
        default_token=settings.wawp.access_token,
        allow_unlisted=settings.allow_unlisted_instances,
    )
    follower = CompactedTopicFollower(
        settings.kafka,
        settings.topics.instances,
        registry.apply,
        client_id=f"{settings.kafka.client_id}-instances",
    )
    try:
        await follower.start()
    except TopicMissing as exc:
        raise ConfigError("GATEWAY_TOPICS__INSTANCES", exc.problem) from None
    try:
        registry.follow_with(follower.catch_up)
        settings.refuse_without_instances(sum(1 for e in registry.entries() if e.enabled))
        yield registry, follower
    finally:
        await follower.stop()


@asynccontextmanager
async def build_worker(
    settings: Settings, *, wawp: WawpPort | None = None, tracing: Tracing | None = None
) -> AsyncIterator[WorkerApp]:
    """Everything a worker process needs, started in order and closed in reverse.

    ``wawp`` replaces the HTTP client (tests use it to put a failing port behind the worker);
    without ``tracing`` the trace context is propagated and no span is recorded (the caller
    shuts a given one down)."""
    tracing = tracing or Tracing()
    async with AsyncExitStack() as stack:
        partitions = await check_partitions(settings.kafka, settings.topics)
        # Read to its end before the first call and followed from then on: a worker taking
        # over a partition knows every instance (docs/contract.md "Instance registry").
        registry, registry_follower = await stack.enter_async_context(following_registry(settings))
        transport = transport_for(settings.wawp)
        client = WawpClient(settings.wawp, transport, registry.token_for, tracing)
        stack.push_async_callback(client.aclose)
        metrics = Metrics(CollectorRegistry(), actions=ACTIONS)
        metrics.start_worker_series(reason.value for reason in DlqReason)
        idempotency = settings.idempotency
        store = open_store(
            idempotency.store_dir, idempotency.store_memory_mb, topic=settings.topics.state
        )
        stack.callback(store.close)  # last: the worker's own exit still writes checkpoints
        await stack.enter_async_context(watching_loop_lag(metrics.loop_lag.observe))
        producer = build_producer(settings.kafka)
        await start_client(producer, settings.kafka)
        stack.push_async_callback(producer.stop)
        state_producers = [build_producer(settings.kafka) for _ in range(STATE_CONNECTIONS)]
        for state_producer in state_producers:
            await start_client(state_producer, settings.kafka)
            stack.push_async_callback(state_producer.stop)
        # Session statuses read to their end before the consumer joins: no call of a held
        # instance, not even the first (docs/contract.md "Held instances").
        sessions = SessionBook()
        sessions.watch(metrics)
        session_follower = CompactedTopicFollower(
            settings.kafka,
            settings.topics.sessions,
            sessions.apply,
            client_id=f"{settings.kafka.client_id}-sessions",
        )
        await session_follower.start()
        stack.push_async_callback(session_follower.stop)
        consumer = build_consumer(settings.kafka)
        await start_client(consumer, settings.kafka)
        stack.push_async_callback(stop_consumer, consumer)
        standing = GroupStanding(consumer, settings.kafka.session_timeout_ms / 1000)
        standing.watch()
        worker = Worker(
            settings,
            consumer=consumer,
            producer=producer,
            wawp=MeteredWawp(wawp or client, metrics),
            metrics=metrics,
            clock=SystemClock(),
            state_log=StateLog(
                state_producers,
                settings.topics.state,
                settled_producer=producer,
                observe=metrics.state_write.observe,
            ),
            standing=standing,
            tracing=tracing,
            store=store,
            sessions=sessions,
            catch_up=[session_follower.catch_up],
            registry=registry,
        )
        registry_follower.on_failure(worker.fail)  # a registry no longer followed: restart
        port = await stack.enter_async_context(
            serve_probes(
                metrics.registry,
                settings.metrics.host,
                settings.metrics.port,
                is_ready=worker.assigned.is_set,
            )
        )
        yield WorkerApp(worker, consumer, metrics, port, partitions, sessions)


def tune_for_service() -> None:
    """Call once, after start-up objects exist and before the steady state."""
    for spec in ACTIONS.values():
        params_model(spec)  # build every action's model now, so it is frozen with the rest
    tune_gc()


async def run_worker(settings: Settings, stopping: asyncio.Event) -> None:
    tracing = Tracing.from_environ(os.environ, service="wawp-gateway-worker")
    try:
        async with build_worker(settings, tracing=tracing) as app:
            tune_for_service()
            await app.worker.run(stopping)
    finally:
        await asyncio.to_thread(tracing.shutdown)
