"""Exactly one result and one Wawp call per command across graceful stops, a rebalance by a new
member, and a rolling restart, all under load (docs/contract.md "Idempotency and replay").

Offsets are committed up to the first unfinished command, so every change of owner re-delivers
finished commands above it: these must be marked done, neither sent nor answered again. Results
are counted per ``command_id`` on the results topic; calls from the sandbox's own request log."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from wawp_gateway.core.config import Settings
from wawp_gateway.core.kafka import create_topics
from wawp_gateway.sandbox import FaultRule, Sandbox
from wawp_gateway.worker.app import build_worker

from .harness import PARTITIONS, TEST_TOKEN, OutputCollector, command, gateway_settings

INSTANCES = tuple(f"ONCE{n:08d}" for n in range(1, 9))
CHATS = 12  # lanes per instance: some finish ahead of a slower one below them
COMMANDS = 480
LATENCY_MS = 40
SLOW_MS = 250
DEADLINE_S = 120.0


@dataclass
class _Member:
    stopping: asyncio.Event
    run: asyncio.Task[None]
    process: AsyncExitStack  # the worker's clients: closed as the process exits


@dataclass
class Fleet:
    """Worker processes, started and stopped gracefully one at a time."""

    settings: Settings
    members: list[_Member] = field(default_factory=list)

    async def start(self) -> None:
        process = AsyncExitStack()
        app = await process.enter_async_context(build_worker(self.settings))
        stopping = asyncio.Event()
        run = asyncio.create_task(app.worker.run(stopping))
        self.members.append(_Member(stopping, run, process))

    async def stop(self, index: int) -> None:
        """A graceful stop (SIGINT/SIGTERM): drain within the grace, release, commit, leave."""
        member = self.members[index]
        member.stopping.set()
        try:
            await member.run
        finally:
            await member.process.aclose()

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(i) for i in range(len(self.members))))


@asynccontextmanager
async def _fleet(settings: Settings) -> AsyncIterator[Fleet]:
    fleet = Fleet(settings)
    try:
        yield fleet
    finally:
        await fleet.stop_all()


async def _publish(settings: Settings, cmds: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(
                settings.topics.send, json.dumps(cmd).encode(), key=cmd["instance_id"].encode()
            )
            for cmd in cmds
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _run_under_load(
    kafka_bootstrap: str,
    sandbox_url: tuple[Sandbox, str],
    prefix: str,
    choreography: Callable[[Fleet, Callable[[int], Awaitable[None]]], Awaitable[None]],
) -> None:
    """Publish the commands, let ``choreography`` start and stop members (it can wait until a
    number of results are out), then check every command has one result and one call."""
    sandbox, url = sandbox_url
    for instance in INSTANCES:
        sandbox.add_instance(instance, TEST_TOKEN)
        # Some calls slower than the rest: lanes finish out of order, and the committed offset
        # stays below commands already answered.
        sandbox.add_fault(
            FaultRule(instance_id=instance, kind="latency", latency_ms=SLOW_MS, probability=0.2)
        )
        sandbox.add_fault(FaultRule(instance_id=instance, kind="latency", latency_ms=LATENCY_MS))
    settings = gateway_settings(kafka_bootstrap, url, prefix, INSTANCES)
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    cmds = [
        command(
            INSTANCES[n % len(INSTANCES)],
            "sendText",
            {"chatId": f"4474414290{n % CHATS:02d}", "message": str(uuid.uuid4())},
        )
        for n in range(COMMANDS)
    ]
    texts = {cmd["params"]["message"] for cmd in cmds}
    ids = {cmd["id"] for cmd in cmds}
    outputs = OutputCollector(kafka_bootstrap, [settings.topics.results])
    await outputs.start()

    async def results_at_least(count: int) -> None:
        await outputs.wait_for(lambda seen: len(ids & seen.results.keys()) >= count, DEADLINE_S)

    try:
        async with _fleet(settings) as fleet:
            await _publish(settings, cmds)
            await choreography(fleet, results_at_least)
            await results_at_least(COMMANDS)
            # Every member stopped: whatever was re-delivered was handled before its commit.
            await fleet.stop_all()
        results = {i: list(outputs.seen.results[i]) for i in ids}
    finally:
        await outputs.stop()

    per_command = Counter(len(found) for found in results.values())
    assert per_command == {1: COMMANDS}, per_command
    statuses = Counter(found[0]["status"] for found in results.values())
    assert statuses == {"succeeded": COMMANDS}, statuses
    calls: Counter[str] = Counter()
    for instance in INSTANCES:
        for request in sandbox.requests(instance_id=instance, action="sendText"):
            text = (request.body or {}).get("message") or dict(request.query).get("message")
            if text in texts:
                calls[str(text)] += 1
    assert Counter(calls.values()) == {1: COMMANDS}, [t for t, n in calls.items() if n > 1]


async def test_a_graceful_stop_of_one_of_two_workers(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    async def choreography(fleet: Fleet, results: Callable[[int], Awaitable[None]]) -> None:
        await fleet.start()
        await fleet.start()
        await results(COMMANDS // 4)
        await fleet.stop(0)

    await _run_under_load(kafka_bootstrap, sandbox_url, unique("once-stop"), choreography)


async def test_a_rebalance_by_a_third_worker(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    async def choreography(fleet: Fleet, results: Callable[[int], Awaitable[None]]) -> None:
        await fleet.start()
        await fleet.start()
        await results(COMMANDS // 4)
        await fleet.start()

    await _run_under_load(kafka_bootstrap, sandbox_url, unique("once-join"), choreography)


async def test_a_rolling_restart_of_every_worker(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Any
) -> None:
    async def choreography(fleet: Fleet, results: Callable[[int], Awaitable[None]]) -> None:
        await fleet.start()
        await fleet.start()
        await results(COMMANDS // 5)
        await fleet.stop(0)
        await fleet.start()
        await results(2 * COMMANDS // 5)
        await fleet.stop(1)
        await fleet.start()

    await _run_under_load(kafka_bootstrap, sandbox_url, unique("once-roll"), choreography)
