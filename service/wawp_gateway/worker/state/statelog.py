"""The ``wawp.state`` changelog: writing records, and reading a partition back (restore).

A record goes to the partition number of the command it belongs to, keyed
``<instance_id>:<idempotency_key>``. The broker may lack compaction and a reliable end offset
(docs/embedded-broker.md), so a restore finds the end of a partition with a *marker*: a record
of its own, written first, whose offset the producer reports; everything acknowledged before
the marker lies below it.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from wawp_gateway.core.coalesce import CoalescingWriter
from wawp_gateway.core.contracts import STATE_SCHEMA, StateStatus
from wawp_gateway.core.jsoncodec import compact, loads
from wawp_gateway.core.tracecontext import kafka_headers
from wawp_gateway.core.tracing import add_event
from wawp_gateway.worker.state.entries import StateEvent
from wawp_gateway.worker.state.idempotency import PartitionState
from wawp_gateway.worker.state.owners import OWNER_HEADER, new_owner_id, owner_of

__all__ = ["MARKER_KEY", "RestoreStats", "StateLog", "encode_event", "parse_record", "restore"]

log = structlog.get_logger(__name__)

MARKER_KEY = b"gateway-marker"
_STATUSES = {status.value: status for status in StateStatus}


_second_cache: list[Any] = [None, ""]


def _rfc3339(seconds: float) -> str:
    """UTC with microseconds; the formatted second is cached (records come many a second, and
    datetime formatting was a tenth of a state write's cost)."""
    whole = int(seconds)
    if _second_cache[0] != whole:
        _second_cache[0] = whole
        _second_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    micros = min(int((seconds - whole) * 1_000_000), 999_999)
    return f"{_second_cache[1]}.{micros:06d}Z"


def _seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def record_head(
    *,
    instance_id: str,
    key: str,
    command_id: str,
    replay_count: int,
    fingerprint: str,
    correlation_id: str | None,
    action: str,
) -> str:
    """The fields a command's state records share, encoded once per command: a record is
    written before every call, and encoding it whole each time was a fifth of its cost."""
    head = compact(
        {
            "schema": STATE_SCHEMA,
            "instance_id": instance_id,
            "idempotency_key": key,
            "command_id": command_id,
            "replay_count": replay_count,
            "fingerprint": fingerprint,
            "correlation_id": correlation_id,
            "action": action,
        }
    ).decode()
    return head[:-1]  # open: the record's own fields follow


def encode_record(head: str, event: StateEvent) -> bytes:
    """A record's value (the shape of ``contracts.StateRecord``) from its command's head."""
    first = event.first_attempt_at
    error = "null"
    if event.error is not None:
        code, message, retryable = event.error
        error = compact({"code": code, "message": message, "retryable": retryable}).decode()
    message_id = "null" if event.message_id is None else json.dumps(event.message_id)
    return (
        f'{head},"status":"{event.status.value}","attempts":{event.attempts},'
        f'"first_attempt_at":{"null" if first is None else chr(34) + _rfc3339(first) + chr(34)},'
        f'"recorded_at":"{_rfc3339(event.recorded_at)}","message_id":{message_id},'
        f'"error":{error}}}'
    ).encode()


def record_key(instance_id: str, key: str) -> bytes:
    return f"{instance_id}:{key}".encode()


def encode_event(event: StateEvent, *, correlation_id: str | None, action: str) -> bytes:
    """One record's value, head included (tests, benchmarks)."""
    head = record_head(
        instance_id=event.instance_id,
        key=event.key,
        command_id=event.command_id,
        replay_count=event.replay_count,
        fingerprint=event.fingerprint,
        correlation_id=correlation_id,
        action=action,
    )
    return encode_record(head, event)


def _released(at: float) -> bytes:
    return json.dumps(
        {"schema": STATE_SCHEMA, "status": StateStatus.RELEASED.value, "recorded_at": _rfc3339(at)},
        separators=(",", ":"),
    ).encode()


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _count(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("not a count")
    return value


def parse_record(value: bytes | None) -> StateEvent | StateStatus | None:
    """A key's record, the partition-level ``released``, or None (a marker, or not ours)."""
    if value is None:
        return None
    try:
        raw = loads(value)
        status = _STATUSES[raw["status"]]
        if status is StateStatus.RELEASED:
            return status
        recorded_at = _seconds(raw["recorded_at"])
        fingerprint = _text(raw["fingerprint"])
        if recorded_at is None or len(fingerprint) != 32:
            return None
        bytes.fromhex(fingerprint)
        error = raw.get("error")
        message_id = raw.get("message_id")
        return StateEvent(
            instance_id=_text(raw["instance_id"]),
            key=_text(raw["idempotency_key"]),
            status=status,
            command_id=_text(raw["command_id"]),
            replay_count=_count(raw.get("replay_count")),
            fingerprint=fingerprint,
            recorded_at=recorded_at,
            attempts=_count(raw.get("attempts")),
            message_id=None if message_id is None else _text(message_id),
            error=(
                (_text(error["code"]), _text(error["message"]), bool(error["retryable"]))
                if error
                else None
            ),
            first_attempt_at=_seconds(raw.get("first_attempt_at")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class StateLog:
    """Writes to ``wawp.state`` and waits for the broker's acknowledgement.

    Records go through a ``CoalescingWriter``: the records written while a partition's
    previous batch waits to leave go out together as the next, so a state write costs an append
    to a batch, and a key's records stay in the order written. The records a call waits for
    (``write``) have ``producers`` of their own (``app.STATE_CONNECTIONS`` in a worker); the
    terminal records (``write_settled``) may share ``settled_producer``, the results'.

    A key's records may then leave on two connections and still keep their order: each is
    written only once the key's previous record was acknowledged (``ledger.JobLedger``)."""

    def __init__(
        self,
        producers: Sequence[AIOKafkaProducer],
        topic: str,
        *,
        settled_producer: AIOKafkaProducer | None = None,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        """``observe``: given the seconds to its acknowledgement of each record a call waits
        for. The ``in_progress`` before a call is on every command's path, so this is where a
        slow broker shows."""
        self.topic = topic
        self._writer = CoalescingWriter(producers, topic)
        # A terminal record follows its result's acknowledgement and nothing waits for it but
        # the record's offset: on the results' connection it joins their next request instead
        # of taking a turn on a connection whose requests every call waits for (README.md,
        # "Performance").
        self._settled = (
            self._writer
            if settled_producer is None
            else CoalescingWriter([settled_producer], topic)
        )
        self._observe = observe
        # On this process's markers and ``released`` records (``owners.py``).
        self.owner = new_owner_id()
        self._owner_headers = [(OWNER_HEADER, self.owner.encode())]

    async def write(self, partition: int, key: bytes, value: bytes) -> None:
        """Write one record a call waits for (``record_key``, ``encode_record``); return once
        acknowledged."""
        seconds = await _acknowledged(self._writer, partition, key, value)
        if self._observe is not None:
            self._observe(seconds)

    async def write_settled(self, partition: int, key: bytes, value: bytes) -> None:
        """Write a command's terminal record (its result is out); return once acknowledged."""
        await _acknowledged(self._settled, partition, key, value)

    async def release(self, partition: int) -> int:
        """Write ``released``; its offset."""
        ack = await self._writer.producer_of(partition).send(
            self.topic,
            _released(time.time()),
            key=None,
            partition=partition,
            headers=self._owner_headers,
        )
        metadata = await ack
        return int(metadata.offset)

    async def mark(self, partition: int) -> int:
        """Write a marker; its offset (every earlier acknowledged record lies below it)."""
        producer = self._writer.producer_of(partition)
        ack = await producer.send(
            self.topic, None, key=MARKER_KEY, partition=partition, headers=self._owner_headers
        )
        metadata = await ack
        return int(metadata.offset)


async def _acknowledged(
    writer: CoalescingWriter, partition: int, key: bytes, value: bytes
) -> float:
    """Write one record through ``writer``; the seconds to its acknowledgement, also noted on
    the command's span."""
    started = time.monotonic()
    # The command's trace context travels on its records (docs/contract.md "Trace context").
    await writer.write(partition, key, value, kafka_headers())
    seconds = time.monotonic() - started
    add_event("wawp.state written", {"wawp.state.write_seconds": seconds})
    return seconds


@dataclass(slots=True)
class RestoreStats:
    records: int = 0
    keys: int = 0
    seconds: float = 0.0


async def restore(
    consumer: AIOKafkaConsumer,
    topic: str,
    ends: dict[int, int],
    states: dict[int, PartitionState],
    *,
    now: float,
    start: dict[int, int] | None = None,
) -> dict[int, int]:
    """Read each partition of ``ends`` from ``start`` (a checkpoint's or an earlier read's
    position; default: the beginning) through its end offset (a marker's) into ``states``;
    return the positions reached (for a later tail read, and the checkpoint).

    ``consumer`` has no group; it is assigned only these partitions."""
    tps = {TopicPartition(topic, p): p for p in ends}
    consumer.assign(list(tps))
    start = start or {}
    from_start = [tp for tp, p in tps.items() if p in start]
    if from_start:
        # A position below the log's start (records past the topic's retention) reads on from
        # the start: what is gone is older than any record kept.
        beginnings = await consumer.beginning_offsets(from_start)
        for tp in from_start:
            consumer.seek(tp, max(start[tps[tp]], beginnings.get(tp, 0)))
    if from_beginning := [tp for tp, p in tps.items() if p not in start]:
        await consumer.seek_to_beginning(*from_beginning)
    pending = {tp for tp, p in tps.items() if await consumer.position(tp) <= ends[p]}
    positions = {p: await consumer.position(tp) for tp, p in tps.items()}
    # Everything a restore allocates besides the store is freed by reference counting, and the
    # store (str -> bytes) is not tracked: collections would only walk a growing heap (measured:
    # a third of a million-record restore's CPU).
    collecting = gc.isenabled()
    gc.disable()
    try:
        await _read(consumer, tps, ends, states, positions, pending, now)
    finally:
        if collecting:
            gc.enable()
    return positions


async def _read(
    consumer: AIOKafkaConsumer,
    tps: dict[TopicPartition, int],
    ends: dict[int, int],
    states: dict[int, PartitionState],
    positions: dict[int, int],
    pending: set[TopicPartition],
    now: float,
) -> None:
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=200, max_records=10_000)
        for tp, records in batch.items():
            p = tps[tp]
            state, end = states[p], ends[p]
            for record in records:
                if record.offset >= end:
                    break
                state.log_records += 1
                item = parse_record(record.value)
                if item is None:
                    if record.key == MARKER_KEY:
                        state.owners.marked(owner_of(record.headers), record.offset)
                    continue
                if isinstance(item, StateEvent):
                    state.apply(item, now)
                else:
                    state.released(owner_of(record.headers))
            positions[p] = min(records[-1].offset + 1, end + 1)
            if positions[p] > end:
                pending.discard(tp)
