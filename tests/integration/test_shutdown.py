"""Graceful shutdown: stop fetching, drain within the grace period, commit, close; a command cut
off by the grace period is not lost, its offset stays uncommitted."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.sections import ShutdownSettings, WawpSettings
from wawp_gateway.sandbox import FaultRule, Sandbox
from wawp_gateway.worker.app import build_worker

from .conftest import POOL
from .harness import PARTITIONS, TEST_TOKEN, command, gateway_settings, running_gateway

GRACE_S = 0.5


async def _until(predicate: Any, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)  # sleep-ok: polling a condition with a deadline


async def test_shutdown_drains_within_grace_and_loses_nothing(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    """A call still hanging at SIGTERM is cut off after the grace period; the next worker of the
    group receives the command again and completes it."""
    sandbox, url = sandbox_url
    instance = POOL[-20]
    sandbox.add_instance(instance, TEST_TOKEN)
    settings = gateway_settings(
        kafka_bootstrap,
        url,
        unique("stop"),
        POOL,
        shutdown=ShutdownSettings(grace_s=GRACE_S),
        wawp=WawpSettings(
            base_url=f"{url}/wp-json/awp/v1",
            v2_base_url=url,
            access_token=TEST_TOKEN,  # type: ignore[arg-type]
            timeout_s=300,
        ),
    )
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    sandbox.add_fault(
        FaultRule(instance_id=instance, action="getSessionInfo", kind="hang", times=1)
    )
    cmd = command(instance, "getSessionInfo", {})

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(
        settings.topics.command, json.dumps(cmd).encode(), key=instance.encode()
    )
    await producer.stop()

    async with build_worker(settings) as app:
        stopping = asyncio.Event()
        run = asyncio.create_task(app.worker.run(stopping))
        await _until(lambda: sandbox.requests(instance_id=instance, action="getSessionInfo"))
        started = time.monotonic()
        stopping.set()
        await asyncio.wait_for(run, 30)
        stopped_after = time.monotonic() - started

    # Far below the 300 s Wawp timeout: the grace period, not the call, bounded the stop.
    assert stopped_after < 60
    async with running_gateway(settings, sandbox, create=False) as again:
        result = await again.outputs.result(cmd["id"])
    assert result["status"] == "succeeded"
    assert len(sandbox.requests(instance_id=instance, action="getSessionInfo")) == 2


async def test_a_stop_during_the_first_group_join_does_not_wait_for_it(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    """Stopped while its first join is under way (long group timings), the worker returns and
    closes at once instead of waiting out the join: it owns nothing yet."""
    _, url = sandbox_url
    settings = gateway_settings(kafka_bootstrap, url, unique("join"), POOL)
    settings = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(
                update={
                    "session_timeout_ms": 30_000,
                    "heartbeat_interval_ms": 3_000,
                    "rebalance_timeout_ms": 60_000,
                }
            )
        }
    )
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)

    async def start_and_stop() -> None:
        async with build_worker(settings) as app:
            stopping = asyncio.Event()
            run = asyncio.create_task(app.worker.run(stopping))
            await _until(lambda: bool(app.consumer.subscription()))
            assert not app.worker.assigned.is_set()
            stopping.set()
            await run

    await asyncio.wait_for(start_and_stop(), 10)
