"""Holding an instance for its session status: the gate, the circuit, the status book.

A held gate keeps its ordinary waiters (no token, no call slot) and lets session and auth
actions through; a WORKING status releases them in their order; a revoke or stop refuses them
at once. Tests await with deadlines, never sleep.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from prometheus_client import CollectorRegistry

from wawp_gateway.core.errors import CallRefused
from wawp_gateway.core.metrics import Metrics
from wawp_gateway.worker.circuit import Circuit, CircuitState
from wawp_gateway.worker.pacing import CallSlots, Gate, GateSettings, Pacer
from wawp_gateway.worker.ratelimit import TokenBucket
from wawp_gateway.worker.sessions import SessionBook

FAST = 6000.0  # per minute: one token every 10 ms
DEADLINE = 1.0
LONG = 30.0


def session_value(instance: str, status: str) -> bytes:
    return (
        f'{{"schema": "wawp.session.v1", "instance_id": "{instance}", "status": "{status}", '
        '"at": "2026-12-07T10:00:00Z", "event_id": "evt_1"}'
    ).encode()


def make_gate(slots: CallSlots | None = None, *, burst: int = 5) -> Gate:
    now = asyncio.get_running_loop().time
    return Gate(
        TokenBucket(FAST, burst, now(), full=True),
        Circuit(3, LONG),
        GateSettings(circuit_threshold=3, circuit_cooldown_s=LONG),
        now,
        random.Random(0),
        slots,
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)  # sleep-ok: yields to the loop, waits for nothing


async def still_waiting(task: asyncio.Task[object], seconds: float = 0.05) -> bool:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return not done


async def test_a_held_gate_keeps_sends_and_lets_session_actions_go() -> None:
    slots = CallSlots(4)
    gate = make_gate(slots)
    gate.hold_session(True)
    assert gate.is_held
    assert gate.holds(bypass=False)
    assert not gate.holds(bypass=True)
    assert not gate.try_acquire()
    send = asyncio.create_task(gate.acquire())
    session = asyncio.create_task(gate.acquire(bypass=True))
    await asyncio.wait_for(session, DEADLINE)
    gate.release_slot()
    assert await still_waiting(send)
    assert slots.in_use == 0  # the held send holds no call slot
    assert gate.waiting == 1
    gate.close()


async def test_working_releases_held_sends_in_their_order() -> None:
    gate = make_gate(burst=1)
    gate.hold_session(True)
    order: list[int] = []

    async def go(n: int) -> None:
        await gate.acquire()
        order.append(n)

    tasks = [asyncio.create_task(go(n)) for n in range(6)]
    await settle()
    assert order == []
    gate.hold_session(False)
    await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
    assert order == list(range(6))


async def test_a_held_instance_takes_no_rate_token() -> None:
    """Held for a while, released: the bucket still holds its whole burst."""
    gate = make_gate(burst=3)
    gate.hold_session(True)
    waiter = asyncio.create_task(gate.acquire())
    assert await still_waiting(waiter)
    gate.hold_session(False)
    await asyncio.wait_for(waiter, DEADLINE)
    now = asyncio.get_running_loop().time()
    # One token spent by the released waiter, two left for calls now.
    assert gate.bucket.wait_time(now) == 0
    gate.bucket.take(now)
    assert gate.bucket.wait_time(now) == 0


async def test_refuse_turns_away_only_the_named_owners() -> None:
    gate = make_gate()
    gate.hold_session(True)
    revoked = asyncio.create_task(gate.acquire(owner="p1"))
    kept = asyncio.create_task(gate.acquire(owner="p2"))
    await settle()
    assert gate.refuse({"p1"}) == 1
    with pytest.raises(CallRefused):
        await asyncio.wait_for(revoked, DEADLINE)
    assert await still_waiting(kept)
    assert gate.refuse(None) == 1
    with pytest.raises(CallRefused):
        await asyncio.wait_for(kept, DEADLINE)
    assert gate.waiting == 0


async def test_a_waiter_that_times_out_while_held_takes_nothing() -> None:
    gate = make_gate(burst=1)
    gate.hold_session(True)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await gate.acquire()
    gate.hold_session(False)
    assert gate.try_acquire()  # the whole burst is still there


async def test_pacer_holds_gates_made_after_the_status_and_tells_existing_ones() -> None:
    loop = asyncio.get_running_loop()
    book = SessionBook()
    book.apply("A", session_value("A", "STOPPED"))
    pacer = Pacer(lambda i: (FAST, 5), GateSettings(3, LONG), loop.time, session_down=book.is_down)
    assert pacer.gate("A").is_held
    assert not pacer.gate("B").is_held
    pacer.session_changed("B", down=True, working=False)
    assert pacer.gate("B").session_down
    pacer.session_changed("A", down=False, working=True)
    assert not pacer.gate("A").is_held
    assert not pacer.circuit_is_open("B")
    pacer.close()


def test_a_session_answer_trips_the_circuit_and_working_closes_it() -> None:
    circuit = Circuit(5, LONG)
    circuit.trip(0.0)
    assert circuit.state is CircuitState.OPEN
    assert circuit.hold_time(1.0) is not None
    circuit.session_working()
    assert circuit.state is CircuitState.CLOSED


def test_working_leaves_a_circuit_opened_by_failing_calls() -> None:
    """A WORKING status says nothing about Wawp answering 5xx: that circuit waits its trial."""
    circuit = Circuit(2, LONG)
    circuit.record_failure(0.0)
    circuit.record_failure(0.0)
    circuit.session_working()
    assert circuit.state is CircuitState.OPEN


def test_a_tripped_circuit_closes_after_a_successful_trial() -> None:
    circuit = Circuit(5, LONG)
    circuit.trip(0.0)
    assert circuit.wait_time(LONG + 1) is None  # the trial
    circuit.record_success()
    assert circuit.state is CircuitState.CLOSED


def test_the_book_keeps_the_last_status_and_counts_instances_by_status() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    book = SessionBook()
    book.watch(metrics)
    heard: list[tuple[str, str | None]] = []
    book.listen(lambda instance, status: heard.append((instance, status)))
    book.apply("A", session_value("A", "STOPPED"))
    book.apply("B", session_value("B", "SCAN_QR_CODE"))
    book.apply("C", session_value("C", "WORKING"))
    book.apply("A", session_value("A", "STOPPED"))  # no change: nobody is told
    assert book.is_down("A")
    assert book.is_down("B")
    assert not book.is_down("C")
    assert not book.is_down("unknown")  # no record: working
    book.apply("A", session_value("A", "WORKING"))
    book.apply("B", None)  # tombstone: working again
    assert not book.is_down("A")
    assert not book.is_down("B")
    assert heard == [
        ("A", "STOPPED"),
        ("B", "SCAN_QR_CODE"),
        ("C", "WORKING"),
        ("A", "WORKING"),
        ("B", None),
    ]

    def value(status: str) -> float | None:
        return registry.get_sample_value("gateway_instance_sessions", {"status": status})

    assert value("WORKING") == 2
    assert value("SCAN_QR_CODE") == 0
    assert value("STOPPED") == 0
    assert value("other") == 0


def test_the_book_skips_records_that_are_not_statuses() -> None:
    book = SessionBook()
    book.apply("A", session_value("A", "STOPPED"))
    book.apply("A", b"not json")
    book.apply("A", session_value("A", "SLEEPING"))  # not a status the contract knows
    book.apply("A", session_value("B", "WORKING"))  # key and instance disagree
    assert book.status_of("A") == "STOPPED"


def test_a_status_the_contract_does_not_list_is_counted_as_other_and_not_held() -> None:
    registry = CollectorRegistry()
    book = SessionBook(decode=lambda value: ("A", value.decode()))
    book.watch(Metrics(registry))
    book.apply("A", b"SLEEPING")
    assert not book.is_down("A")
    assert registry.get_sample_value("gateway_instance_sessions", {"status": "other"}) == 1
