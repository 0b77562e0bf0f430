"""The restore scenario: a state topic of N production-like records, read back two ways.

    python -m bench.restore load    --bootstrap B --topic T --records N --partitions P --report F
    python -m bench.restore raw     --bootstrap B --topic T --ends JSON --report F
    python -m bench.restore restore --bootstrap B --topic T --ends JSON --store-dir D --report F
    python -m bench.restore load    ... --seed S   (the tail: records written after the restore)
    python -m bench.restore restore ... --store-dir D   (again: from D's checkpoint plus the tail)

Each step runs in its own process, one after the other, so the memory a reader reports is its
own. ``raw`` is a plain aiokafka consumer (no group) reading the partitions from the beginning
to the end and dropping the values: the ceiling. ``restore`` is the worker's hand-over restore
as ``handover.Handover.take`` runs it: the consumer from ``kafka.build_reader``, one marker per
partition (``StateLog.mark``) for the end, then ``statelog.restore`` into ``PartitionState``s
on an on-disk store (``store.py``) with the default idempotency settings, and a checkpoint at the
end. Both use the same fetch settings and read the same records (the marker lies past the loaded
ones). Then a tail of 1% more records is written, and a third process restores again on the
same store directory: from its checkpoint, it reads only the tail (a restart of a worker whose
store is a volume).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.harness import cpu_seconds, rss_bytes, wait_for
from bench.measure import Stack
from bench.state_records import StateLoad, changelog
from wawp_gateway.core.kafka import build_producer, build_reader, create_topics
from wawp_gateway.core.sections import IdempotencySettings, KafkaSettings
from wawp_gateway.worker.state.idempotency import PartitionState
from wawp_gateway.worker.state.statelog import StateLog, restore
from wawp_gateway.worker.state.store import open_store

__all__ = ["RestoreRun", "main", "measure_restore"]

_MB = 1024 * 1024
_BATCH_BYTES = 512 * 1024
_STORE = [
    f"service/wawp_gateway/worker/state/{m}.py"
    for m in ("statelog", "idempotency", "handover", "store")
]
_GETMANY = {"timeout_ms": 200, "max_records": 10_000}  # what statelog.restore asks for


@dataclass(frozen=True, slots=True)
class RestoreRun:
    load: dict[str, Any]
    raw: dict[str, Any]
    restore: dict[str, Any]
    resume: dict[str, Any]  # the same store again, from its checkpoint plus the tail
    source: str  # the commit measured, and whether the store's modules had local changes


# -- the harness side -------------------------------------------------------------------------


async def measure_restore(stack: Stack, load: StateLoad) -> RestoreRun:
    """Load a fresh state topic, then run the raw read and the restore, each in a process."""
    topic = f"b{stack.run_id}.restore-{load.records}.state"
    kafka = KafkaSettings(bootstrap_servers=stack.bootstrap)
    await create_topics(kafka, [topic], partitions=load.partitions)
    loaded = await _step(
        stack,
        "load",
        topic,
        "--records",
        str(load.records),
        "--partitions",
        str(load.partitions),
        timeout_s=120 + load.records / 10_000,
    )
    ends = ["--ends", json.dumps(loaded["ends"])]
    raw = await _step(stack, "raw", topic, *ends, timeout_s=60 + load.records / 5_000)
    store = ["--store-dir", str(stack.run_dir / f"restore-store-{load.records}")]
    restored = await _step(
        stack, "restore", topic, *ends, *store, timeout_s=60 + load.records / 1_000
    )
    tail = max(1, load.records // 100)
    tail_args = ["--records", str(tail), "--partitions", str(load.partitions), "--seed", "8"]
    await _step(stack, "load", topic, *tail_args, timeout_s=120 + tail / 10_000)
    resumed = await _step(
        stack, "restore", topic, *ends, *store, timeout_s=60 + load.records / 1_000
    )
    return RestoreRun(loaded, raw, restored, resumed, _source())


def _source() -> str:
    root = Path(__file__).resolve().parent.parent
    git = ["git", "-C", str(root)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run([*git, "status", "--porcelain", *_STORE], capture_output=True)
    except OSError:
        return "unknown"
    changed = [line[3:] for line in dirty.stdout.decode().splitlines()]
    commit = head.stdout.decode().strip() or "unknown"
    return f"{commit} + local changes in {', '.join(changed)}" if changed else commit


async def _step(
    stack: Stack, mode: str, topic: str, *args: str, timeout_s: float
) -> dict[str, Any]:
    step = len(list(stack.run_dir.glob("restore-*.json")))
    report = stack.run_dir / f"restore-{mode}-{step}.json"
    argv = [sys.executable, "-m", "bench.restore", mode, "--bootstrap", stack.bootstrap]
    argv += ["--topic", topic, "--report", str(report), *args]
    load_average = os.getloadavg()[0]
    broker_before = cpu_seconds(stack.broker_pid) or 0.0
    proc = stack.group.spawn(f"restore-{mode}", argv)
    await wait_for(lambda: not proc.alive(), timeout_s=timeout_s, what=f"restore {mode}")
    if proc.popen.returncode != 0:
        raise RuntimeError(f"bench.restore {mode} failed:\n{proc.log_tail()}")
    result: dict[str, Any] = json.loads(report.read_text())
    result["broker_cpu_s"] = round((cpu_seconds(stack.broker_pid) or 0.0) - broker_before, 2)
    result["load_average_at_start"] = round(load_average, 2)
    return result


# -- the processes ----------------------------------------------------------------------------


def _rss_mb() -> float:
    return (rss_bytes(os.getpid()) or 0) / _MB


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _load(bootstrap: str, topic: str, load: StateLoad) -> dict[str, Any]:
    """Write ``load`` fast (big batches, acks=1): the load is not what is measured."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        max_batch_size=_BATCH_BYTES,
        linger_ms=50,
        enable_idempotence=False,
    )
    await producer.start()
    now = time.time()
    limit = now - IdempotencySettings().retention_s
    last: dict[str, float] = {}  # key -> recorded_at of its latest record
    expired_records = 0
    ends: dict[int, int] = {}
    sent: list[asyncio.Future[Any]] = []
    batches = {p: producer.create_batch() for p in range(load.partitions)}
    started = time.monotonic()

    async def flush(partition: int) -> None:
        batch = batches[partition]
        count = batch.record_count()
        future = await producer.send_batch(batch, topic, partition=partition)
        future.add_done_callback(lambda f: _end(ends, partition, f.result().offset + count))
        sent.append(future)
        batches[partition] = producer.create_batch()

    try:
        for record in changelog(load, now):
            if record.recorded_at < limit:
                expired_records += 1
            last[record.key.decode()] = record.recorded_at
            batch = batches[record.partition]
            if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                await flush(record.partition)
                batches[record.partition].append(key=record.key, value=record.value, timestamp=None)
        for partition, batch in list(batches.items()):
            if batch.record_count():
                await flush(partition)
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return {
        "records": load.records,
        "partitions": load.partitions,
        "keys": len(last),
        "live_keys": sum(1 for at in last.values() if at >= limit),
        "expired_records": expired_records,
        "ends": {str(p): end for p, end in sorted(ends.items())},
        "seconds": round(time.monotonic() - started, 3),
        "cpu_s": round(time.process_time(), 2),
    }


def _end(ends: dict[int, int], partition: int, end: int) -> None:
    ends[partition] = max(ends.get(partition, 0), end)


async def _raw(bootstrap: str, topic: str, ends: dict[int, int]) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=KafkaSettings().fetch_max_wait_ms,
    )
    await consumer.start()
    try:
        rss_before = _rss_mb()
        cpu_before = time.process_time()
        started = time.monotonic()
        tps = {TopicPartition(topic, p): p for p in ends}
        consumer.assign(list(tps))
        await consumer.seek_to_beginning(*tps)
        pending = {tp for tp, p in tps.items() if ends[p] > 0}
        records = 0
        while pending:
            batch = await consumer.getmany(*pending, **_GETMANY)
            for tp, got in batch.items():
                end = ends[tps[tp]]
                for record in got:
                    if record.offset >= end:
                        break
                    records += 1  # the value is left alone
                if got[-1].offset + 1 >= end:
                    pending.discard(tp)
        seconds = time.monotonic() - started
        cpu = time.process_time() - cpu_before
    finally:
        await consumer.stop()
    return {
        "reader": "raw aiokafka read",
        "records": records,
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu, 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(_rss_mb(), 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


async def _restore(
    bootstrap: str, topic: str, partitions: list[int], store_dir: str | None
) -> dict[str, Any]:
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    idempotency = IdempotencySettings()
    producer = build_producer(kafka)
    await producer.start()
    consumer = build_reader(kafka)
    await consumer.start()
    store = open_store(store_dir, idempotency.store_memory_mb, topic=topic)
    try:
        states = {
            p: PartitionState(
                idempotency.retention_s, idempotency.max_keys_per_partition, kv=store, partition=p
            )
            for p in partitions
        }
        rss_before = _rss_mb()
        cpu_before = time.process_time()
        started = time.monotonic()
        starts = {p: start for p in partitions if (start := states[p].resume()) is not None}
        checkpointed = sum(state.log_records for state in states.values())
        state_log = StateLog([producer], topic)
        marks = await asyncio.gather(*(state_log.mark(p) for p in partitions))
        ends = dict(zip(partitions, marks, strict=True))
        marked = time.monotonic()
        positions = await restore(consumer, topic, ends, states, now=time.time(), start=starts)
        for p, state in states.items():
            state.checkpoint(positions[p])
        seconds = time.monotonic() - started
        cpu = time.process_time() - cpu_before
    finally:
        await consumer.stop()
        await producer.stop()
        store.close()
    rss_after = _rss_mb()
    keys = sum(len(state) for state in states.values())
    return {
        "reader": "gateway restore from a checkpoint" if starts else "gateway restore",
        "from_checkpoint": len(starts),
        "records": sum(state.log_records for state in states.values()) - checkpointed,
        "applied": sum(state.records for state in states.values()),
        "keys": keys,
        "evicted": sum(state.evicted for state in states.values()),
        "seconds": round(seconds, 3),
        "mark_s": round(marked - started, 3),
        "cpu_s": round(cpu, 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "mb_per_100k_keys": round((rss_after - rss_before) / keys * 100_000, 1) if keys else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restore")
    parser.add_argument("mode", choices=("load", "raw", "restore"))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--ends", help="JSON {partition: end offset} (raw, restore)")
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--store-dir", help="the on-disk store (restore); none: a temporary one")
    parser.add_argument("--seed", type=int, default=7, help="of the records written (load)")
    args = parser.parse_args(argv)
    ends = {int(p): int(end) for p, end in json.loads(args.ends or "{}").items()}
    if args.mode == "load":
        load = StateLoad(args.records, partitions=args.partitions, seed=args.seed)
        result = asyncio.run(_load(args.bootstrap, args.topic, load))
    elif args.mode == "raw":
        result = asyncio.run(_raw(args.bootstrap, args.topic, ends))
    else:
        result = asyncio.run(_restore(args.bootstrap, args.topic, sorted(ends), args.store_dir))
    args.report.write_text(json.dumps(result))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
