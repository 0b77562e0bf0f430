"""The rate limit holds across a rebalance: a second worker joins while a rate-limited
instance has a backlog; the sandbox's log of that instance never exceeds the bucket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaProducer

from wawp_gateway.core.kafka import create_topics
from wawp_gateway.sandbox import Sandbox
from wawp_gateway.worker.app import build_worker

from .conftest import POOL
from .harness import (
    LIMITED,
    LIMITED_BURST,
    LIMITED_RATE_PER_MINUTE,
    PARTITIONS,
    TEST_TOKEN,
    OutputCollector,
    command,
    gateway_settings,
)
from .test_engine import arrivals, assert_within_rate


def _sends(app: Any) -> float:
    value = app.metrics.registry.get_sample_value(
        "gateway_wawp_requests_total", {"action": "sendText", "status_class": "2xx"}
    )
    return float(value or 0)


async def test_rate_limit_holds_when_a_worker_joins_mid_backlog(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    """Hand-over: the old owner stops calling, the new owner starts with an empty bucket."""
    sandbox, url = sandbox_url
    limited = LIMITED[-1]
    sandbox.add_instance(limited, TEST_TOKEN)
    settings = gateway_settings(kafka_bootstrap, url, unique("rb"), POOL)
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    cmds = [
        command(limited, "sendText", {"chatId": f"44744142900{i % 4}", "message": f"b{i}"})
        for i in range(80)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    for cmd in cmds:
        await producer.send_and_wait(
            settings.topics.send, json.dumps(cmd).encode(), key=limited.encode()
        )
    await producer.stop()
    outputs = OutputCollector(kafka_bootstrap, [settings.topics.results])
    await outputs.start()
    stop_first, stop_second = asyncio.Event(), asyncio.Event()

    try:
        async with build_worker(settings) as second:
            async with build_worker(settings) as first:
                run_first = asyncio.create_task(first.worker.run(stop_first))
                await outputs.wait_for(lambda seen: len(seen.results) >= 15)
                # A second member joins: partitions are split between the two...
                run_second = asyncio.create_task(second.worker.run(stop_second))
                await outputs.wait_for(lambda seen: len(seen.results) >= 35, deadline_s=60)
                # ...then the first leaves: whatever it still owned moves to the second.
                stop_first.set()
                await run_first
                handled_by_first = _sends(first)
            results = [await outputs.result(c["id"], deadline_s=60) for c in cmds]
            stop_second.set()
            await run_second
            handled_by_second = _sends(second)
    finally:
        await outputs.stop()

    assert handled_by_first > 0
    assert handled_by_second > 0  # the instance's partition changed hands
    assert all(r["status"] in ("succeeded", "outcome_unknown") for r in results)
    times = [r.at for r in arrivals(sandbox, limited)]
    assert_within_rate(times, LIMITED_RATE_PER_MINUTE, LIMITED_BURST)
