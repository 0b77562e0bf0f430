"""A command's state records and the connections they leave on: the records a call waits for
on the state producers, its terminal record on the results' producer, one after the other."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from aiokafka import AIOKafkaProducer

from fakes import FakeProducer, ManualClock
from wawp_gateway.core.contracts import ResultStatus
from wawp_gateway.wawp.catalog import ACTIONS
from wawp_gateway.worker.intake import OutboundCommand
from wawp_gateway.worker.pipeline import Outcome
from wawp_gateway.worker.state.idempotency import PartitionState
from wawp_gateway.worker.state.ledger import JobLedger
from wawp_gateway.worker.state.statelog import StateLog

DEADLINE_S = 5.0
NOW = ManualClock().time()


def _command() -> OutboundCommand:
    return OutboundCommand(
        id="cmd-1",
        idempotency_key="order-1",
        instance_id="ABC123DEF456",
        spec=ACTIONS["sendText"],
        params={"chatId": "447441429009@c.us", "message": "hi"},
        correlation_id=None,
        reply_to=None,
        not_after=None,
        created_at=None,
        replay_count=0,
    )


async def _never_retried(write: Any) -> None:
    raise AssertionError("no write failed")


def _ledger(state_producer: FakeProducer, settled: FakeProducer) -> JobLedger:
    log = StateLog(
        [cast(AIOKafkaProducer, state_producer)],
        "wawp.state",
        settled_producer=cast(AIOKafkaProducer, settled),
    )
    return JobLedger(_command(), 3, PartitionState(60), log, ManualClock(), _never_retried)


def _statuses(producer: FakeProducer) -> list[str]:
    return [
        json.loads(value)["status"]
        for _, _, batch, _ in producer.sent
        for _, value, _ in batch.records
        if value is not None
    ]


async def _acknowledged(producer: FakeProducer, count: int) -> None:
    await producer.next_send(count)
    producer.drain()
    *_, ack = producer.sent[count - 1]
    ack.set_result(None)


async def _call_started(state: FakeProducer, results: FakeProducer) -> JobLedger:
    """A running command's ledger whose ``in_progress`` was acknowledged."""
    ledger = _ledger(state, results)
    ledger.begin()
    starting = asyncio.create_task(ledger.call_starting())
    await _acknowledged(state, 1)
    await asyncio.wait_for(starting, DEADLINE_S)
    return ledger


async def test_records_a_call_waits_for_leave_on_the_state_producers_the_terminal_one_not() -> None:
    state, results = FakeProducer(), FakeProducer()
    ledger = await _call_started(state, results)
    not_sent = asyncio.create_task(ledger.not_sent())
    await _acknowledged(state, 2)
    await asyncio.wait_for(not_sent, DEADLINE_S)
    assert results.sent == []
    finished = asyncio.create_task(ledger.finished(Outcome(ResultStatus.SUCCEEDED, attempts=1)))
    await _acknowledged(results, 1)
    await asyncio.wait_for(finished, DEADLINE_S)
    assert _statuses(state) == ["in_progress", "not_sent"]
    assert _statuses(results) == ["succeeded"]
    assert {(topic, partition) for topic, partition, *_ in state.sent + results.sent} == {
        ("wawp.state", 3)
    }


async def test_the_terminal_record_is_applied_only_once_acknowledged() -> None:
    """``finished`` returns, and the key's outcome is stored, only once the terminal record is
    acknowledged: until then the key is running (a duplicate waits), so no later record of the
    key can overtake it on the other connection."""
    results = FakeProducer()
    ledger = await _call_started(FakeProducer(), results)
    finished = asyncio.create_task(ledger.finished(Outcome(ResultStatus.SUCCEEDED, attempts=1)))
    await results.next_send(1)
    assert not finished.done()
    assert _stored(ledger) is None  # a running key's in_progress is not stored yet
    results.drain()
    results.sent[0][3].set_result(None)
    await asyncio.wait_for(finished, DEADLINE_S)
    assert _stored(ledger) == "succeeded"


def _stored(ledger: JobLedger) -> str | None:
    entry = ledger.state.get(ledger.command.instance_id, ledger.command.idempotency_key, NOW)
    return None if entry is None else entry.status.value
