"""The chaos run's size, its commands (paced onto the send topic) and its outputs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

TOKEN = "chaos-token-3b9e1f0a"
RESULT_STATUSES = frozenset(
    {"succeeded", "failed", "rejected", "expired", "duplicate", "outcome_unknown"}
)


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True, slots=True)
class ChaosSize:
    """How big a run is; ``CHAOS_*`` variables override the small default of ``make test``."""

    commands: int = 1_500
    kills: int = 3
    workers: int = 3
    instances: int = 24
    chats: int = 300
    partitions: int = 8
    max_in_flight: int = 32
    seconds: int = 0  # publishing window; 0 = 4 s per chaos action, at least 15 s
    latency_ms: float = 20.0
    latency_jitter_ms: float = 30.0
    reconcile: bool = False  # GATEWAY_RECONCILE__ENABLED of the workers
    seed: int = 0  # 0 = a new one each run (printed, so a run can be repeated)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ChaosSize:
        d = cls()
        return cls(
            commands=_env_int(environ, "CHAOS_COMMANDS", d.commands),
            kills=_env_int(environ, "CHAOS_KILLS", d.kills),
            workers=_env_int(environ, "CHAOS_WORKERS", d.workers),
            instances=_env_int(environ, "CHAOS_INSTANCES", d.instances),
            chats=_env_int(environ, "CHAOS_CHATS", d.chats),
            partitions=_env_int(environ, "CHAOS_PARTITIONS", d.partitions),
            max_in_flight=_env_int(environ, "CHAOS_MAX_IN_FLIGHT", d.max_in_flight),
            seconds=_env_int(environ, "CHAOS_SECONDS", d.seconds),
            reconcile=bool(_env_int(environ, "CHAOS_RECONCILE", int(d.reconcile))),
            seed=_env_int(environ, "CHAOS_SEED", d.seed) or random.randrange(1, 2**31),
        )

    @property
    def window_s(self) -> float:
        """How long publishing lasts: the chaos actions are spread over it."""
        return float(self.seconds or max(15, 4 * (self.kills + 2)))

    @property
    def timeout_s(self) -> float:
        """pytest-timeout for the whole test: the window, the drain, start and stop."""
        return max(120.0, 3 * self.window_s + self.commands / 100 + 60)


# -- the workload ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChaosCommand:
    command_id: str
    instance_id: str
    chat_id: str
    seq: int  # 1, 2, ... within its chat, in publishing order

    @property
    def text(self) -> str:
        return f"chaos {self.command_id} seq={self.seq}"

    def encode(self) -> bytes:
        return json.dumps(
            {
                "schema": "wawp.command.v1",
                "id": self.command_id,
                "instance_id": self.instance_id,
                "action": "sendText",
                "params": {"chatId": self.chat_id, "message": self.text},
            }
        ).encode()


def parse_text(text: str) -> tuple[str, int] | None:
    """(command id, seq) of a chaos message text, None for anything else."""
    parts = text.split(" ")
    if len(parts) != 3 or parts[0] != "chaos" or not parts[2].startswith("seq="):
        return None
    return parts[1], int(parts[2][4:])


def build_workload(size: ChaosSize, run_id: str) -> tuple[list[str], list[ChaosCommand]]:
    """Instances, and commands over ``size.chats`` chats spread over them, in chat order."""
    rng = random.Random(size.seed)
    instances = [f"CHAOS{n:07d}" for n in range(size.instances)]
    chats = [(instances[c % size.instances], f"4474{c:08d}@c.us") for c in range(size.chats)]
    seqs: Counter[int] = Counter()
    commands = []
    for n in range(size.commands):
        chat = rng.randrange(size.chats)
        seqs[chat] += 1
        instance_id, chat_id = chats[chat]
        commands.append(ChaosCommand(f"{run_id}-{n:06d}", instance_id, chat_id, seqs[chat]))
    return instances, commands


async def publish_paced(
    bootstrap: str, topic: str, commands: list[ChaosCommand], window_s: float
) -> float:
    """Publish ``commands`` in order, keyed by instance, evenly over ``window_s``; returns the
    seconds it took (more than the window when the broker is slower)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=262_144)
    await producer.start()
    started = time.monotonic()
    try:
        tick_s = 0.05
        per_tick = max(1, math.ceil(len(commands) * tick_s / window_s))
        for i in range(0, len(commands), per_tick):
            due = started + window_s * i / len(commands)
            if (ahead := due - time.monotonic()) > 0:
                await asyncio.sleep(ahead)  # sleep-ok: pacing the load, not waiting for anything
            sent = [
                await producer.send(topic, c.encode(), key=c.instance_id.encode())
                for c in commands[i : i + per_tick]
            ]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return time.monotonic() - started


# -- outputs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeenResult:
    status: str
    replay_count: int
    original_status: str | None


@dataclass
class Outputs:
    results: dict[str, list[SeenResult]] = field(default_factory=lambda: defaultdict(list))
    dlq_reasons: Counter[str] = field(default_factory=Counter)
    dlq_ids: set[str] = field(default_factory=set)
    records: int = 0


class OutputReader:
    """Reads the results and DLQ topics from their beginning in the background."""

    def __init__(self, bootstrap: str, results: str, dlq: str, partitions: int) -> None:
        self.seen = Outputs()
        self._tps = [TopicPartition(t, p) for t in (results, dlq) for p in range(partitions)]
        self._dlq = dlq
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
        )
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.assign(self._tps)
        await self._consumer.seek_to_beginning(*self._tps)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    self._store(record)
            if batch:
                self._progress.set()
                self._progress = asyncio.Event()

    def _store(self, record: Any) -> None:
        self.seen.records += 1
        if record.topic == self._dlq:
            headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
            self.seen.dlq_reasons[headers.get("dlq-reason", "?")] += 1
            with contextlib.suppress(ValueError, KeyError, TypeError):  # undecodable: no id
                self.seen.dlq_ids.add(str(json.loads(record.value)["id"]))
            return
        value = json.loads(record.value)
        self.seen.results[value["command_id"]].append(
            SeenResult(
                value["status"], int(value.get("replay_count") or 0), value.get("original_status")
            )
        )

    async def wait_for_all(self, command_ids: set[str], idle_s: float) -> bool:
        """Wait until every id has a result; False when no new output came for ``idle_s``."""
        # The topics are this run's own: every result is of one of its commands.
        while len(self.seen.results) < len(command_ids):
            try:
                async with asyncio.timeout(idle_s):
                    await self._progress.wait()
            except TimeoutError:
                return False
        return command_ids.issubset(self.seen.results.keys())
