"""Gate and Pacer: grant order, bypass for session actions, cancellation, rate and circuit,
and the process-wide call slots a grant comes with.

Each gate runs on the real loop with short intervals (6000/min: 10 ms); tests await the
acquire tasks with a deadline instead of sleeping.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from wawp_gateway.worker.circuit import Circuit, CircuitState
from wawp_gateway.worker.pacing import CallSlots, Gate, GateSettings, Pacer
from wawp_gateway.worker.ratelimit import TokenBucket

FAST = 6000.0  # per minute: one token every 10 ms
DEADLINE = 0.5  # seconds an awaited grant may take before the test fails
LONG = 30.0  # a cool-down or pause no test waits out


class CountingBucket(TokenBucket):
    """A TokenBucket that remembers when each token was taken (gate time)."""

    __slots__ = ("on_take", "taken")

    def __init__(self, rate: float, burst: int, now: float, *, full: bool) -> None:
        super().__init__(rate, burst, now, full=full)
        self.taken: list[float] = []
        self.on_take: Callable[[], object] = lambda: None

    def take(self, now: float) -> None:
        self.taken.append(now)
        super().take(now)
        self.on_take()


class Shifted:
    """Monotonic time: the loop's clock plus a jump the test controls."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return asyncio.get_running_loop().time() + self.shift


def make_gate(
    *,
    rate: float = FAST,
    burst: int = 1,
    full: bool = False,
    threshold: int = 1,
    cooldown: float = LONG,
    now: Callable[[], float] | None = None,
    slots: CallSlots | None = None,
) -> Gate:
    clock = now or Shifted()
    return Gate(
        CountingBucket(rate, burst, clock(), full=full),
        Circuit(threshold, cooldown),
        GateSettings(circuit_threshold=threshold, circuit_cooldown_s=cooldown),
        clock,
        random.Random(0),
        slots,
    )


async def settle() -> None:
    """Let every ready task run once (no time passes)."""
    for _ in range(5):
        await asyncio.sleep(0)  # sleep-ok: yields to the loop, waits for nothing


def record(gate: Gate, name: str, order: list[str], *, bypass: bool = False) -> asyncio.Task:
    async def go() -> None:
        await gate.acquire(bypass=bypass)
        order.append(name)

    return asyncio.create_task(go(), name=name)


async def still_waiting(task: asyncio.Task, seconds: float = 0.05) -> bool:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return not done


async def test_equal_priority_waiters_are_granted_in_arrival_order() -> None:
    """Ordinary calls are granted first come, first served."""
    gate = make_gate()
    order: list[str] = []
    tasks = [record(gate, f"w{n}", order) for n in range(5)]
    await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
    assert order == ["w0", "w1", "w2", "w3", "w4"]


async def test_a_later_session_action_is_granted_before_queued_sends() -> None:
    """A bypass waiter arriving after ordinary ones gets the next token."""
    gate = make_gate()
    order: list[str] = []
    tasks = [record(gate, f"w{n}", order) for n in range(3)]
    tasks.append(record(gate, "session", order, bypass=True))
    await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
    assert order == ["session", "w0", "w1", "w2"]


async def test_a_session_action_ignores_the_429_pause() -> None:
    """Paused by Retry-After: sends wait, a session action goes at its token."""
    gate = make_gate(full=True, burst=2)
    gate.pause(LONG)
    order: list[str] = []
    send = record(gate, "send", order)
    session = record(gate, "session", order, bypass=True)
    await asyncio.wait_for(session, DEADLINE)
    assert await still_waiting(send)
    assert gate.waiting == 1
    gate.close()


async def test_an_open_circuit_holds_sends_but_not_session_actions() -> None:
    """Open circuit: sends are held; a session action goes; its success frees the sends
    without waiting out the cool-down."""
    now = Shifted()
    gate = make_gate(full=True, burst=3, now=now)
    gate.circuit.record_failure(now())
    assert gate.is_held
    order: list[str] = []
    send = record(gate, "send", order)
    session = record(gate, "session", order, bypass=True)
    await asyncio.wait_for(session, DEADLINE)
    assert await still_waiting(send)
    gate.circuit.record_success()  # the session action repaired the instance
    await asyncio.wait_for(send, DEADLINE)
    assert order == ["session", "send"]


async def test_a_cancelled_waiter_takes_no_token() -> None:
    """A waiter cancelled while queued is skipped: the next one gets its token."""
    gate = make_gate()
    bucket = gate.bucket
    assert isinstance(bucket, CountingBucket)
    order: list[str] = []
    first, gone, last = (record(gate, n, order) for n in ("first", "gone", "last"))
    await settle()
    gone.cancel()
    await asyncio.wait_for(asyncio.gather(first, last), DEADLINE)
    assert order == ["first", "last"]
    assert len(bucket.taken) == 2  # the cancelled waiter took none
    assert gate.waiting == 0


async def test_grants_never_exceed_the_rate_in_any_window() -> None:
    """Grant times on the loop clock: every window holds <= burst + rate * T / 60 (+2 ms)."""
    loop = asyncio.get_running_loop()
    burst = 3
    gate = make_gate(burst=burst, full=True, now=loop.time)
    times: list[float] = []

    async def call(bypass: bool) -> None:
        await gate.acquire(bypass=bypass)
        times.append(loop.time())

    tasks = [asyncio.create_task(call(n % 4 == 0)) for n in range(24)]
    await asyncio.wait_for(asyncio.gather(*tasks), 2.0)
    times.sort()
    for i, a in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + FAST * (times[j] - a + 0.002) / 60, (i, j)


async def test_a_waiter_held_by_its_token_when_half_open_does_not_lose_the_trial() -> None:
    """Half-open while the bucket is empty: the waiter gets the trial once its token comes
    (asking must not claim the trial, or nobody would ever make it)."""
    now = Shifted()
    gate = make_gate(rate=600.0, full=True, cooldown=0.03, now=now)  # tokens every 100 ms
    await gate.acquire(bypass=True)  # the bucket's only token
    gate.circuit.record_failure(now())
    waited = await asyncio.wait_for(gate.acquire(), DEADLINE)
    assert waited == pytest.approx(0.1, abs=0.03)
    assert gate.circuit.trial_in_flight


async def test_half_open_grants_one_trial_and_the_next_send_waits_for_its_answer() -> None:
    """Only the trial goes; its success lets the next send go at once."""
    now = Shifted()
    gate = make_gate(burst=5, full=True, now=now)
    gate.circuit.record_failure(now())
    now.shift += LONG  # the cool-down is over
    await asyncio.wait_for(gate.acquire(), DEADLINE)
    assert gate.circuit.state is CircuitState.HALF_OPEN
    order: list[str] = []
    second = record(gate, "second", order)
    assert await still_waiting(second)
    gate.circuit.record_success()
    await asyncio.wait_for(second, DEADLINE)
    assert gate.circuit.state is CircuitState.CLOSED


async def test_a_429_on_the_trial_frees_the_trial_for_the_next_send() -> None:
    """Rate limited trial: no verdict; after the pause the next send is the trial."""
    now = Shifted()
    gate = make_gate(burst=5, full=True, now=now)
    gate.circuit.record_failure(now())
    now.shift += LONG
    await asyncio.wait_for(gate.acquire(), DEADLINE)
    gate.pause(0.02)
    await asyncio.wait_for(gate.acquire(), DEADLINE)
    assert gate.circuit.trial_in_flight


async def test_a_trial_granted_to_a_cancelled_caller_is_given_back() -> None:
    """Cancelled right after its grant, a trial nobody will make ends unjudged."""
    now = Shifted()
    loop = asyncio.get_running_loop()
    gate = make_gate(now=now)  # empty bucket: the waiter queues
    gate.circuit.record_failure(now() - LONG)  # its cool-down is over
    bucket = gate.bucket
    assert isinstance(bucket, CountingBucket)
    waiter = asyncio.create_task(gate.acquire())
    # The cancel lands after the grant, before the waiter resumes.
    bucket.on_take = lambda: loop.call_soon(waiter.cancel)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiter, DEADLINE)
    assert len(bucket.taken) == 1
    assert gate.circuit.state is CircuitState.HALF_OPEN
    assert not gate.circuit.trial_in_flight


async def test_pacer_starts_every_bucket_empty_and_reuses_its_gate() -> None:
    """A new gate waits one interval for its first token; the same instance, same gate."""
    loop = asyncio.get_running_loop()
    pacer = Pacer(lambda instance: (60.0, 5), GateSettings(3, LONG), loop.time)
    gate = pacer.gate("i1")
    assert gate is pacer.gate("i1")
    assert gate.bucket.wait_time(loop.time()) == pytest.approx(1.0, abs=0.01)
    pacer.close()


async def test_pacer_forget_drops_gates_and_cancels_their_waiters() -> None:
    """Forgotten instances lose their gate (a later one starts empty again); waiters end."""
    loop = asyncio.get_running_loop()
    pacer = Pacer(lambda instance: (60.0, 5), GateSettings(1, LONG), loop.time)
    gate = pacer.gate("i1")
    other = pacer.gate("i2")
    waiter = asyncio.create_task(gate.acquire())
    await settle()
    pacer.forget({"i1", "unknown"})
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiter, DEADLINE)
    assert pacer.gate("i1") is not gate
    assert pacer.gate("i2") is other
    other.circuit.record_failure(loop.time())
    assert pacer.held_instances() == ["i2"]
    pacer.close()


async def test_call_slots_go_to_waiters_in_order_and_a_cancelled_one_takes_none() -> None:
    slots = CallSlots(1)
    assert slots.try_take()
    first = asyncio.create_task(slots.take())
    second = asyncio.create_task(slots.take())
    third = asyncio.create_task(slots.take())
    await settle()
    second.cancel()
    slots.release()  # handed to the first waiter
    await asyncio.wait_for(first, DEADLINE)
    assert slots.in_use == 1
    slots.release()  # the cancelled second is skipped: the third gets it
    await asyncio.wait_for(third, DEADLINE)
    assert second.cancelled()
    slots.release()
    assert slots.in_use == 0


async def test_an_instance_waiting_for_its_tokens_holds_no_call_slot() -> None:
    """Head-of-line isolation across instances: with one slot in the process, an instance whose
    next token is a minute away queues a call, and another instance's call still goes at once."""
    slots = CallSlots(1)
    slow = make_gate(rate=1.0, burst=1, full=False, slots=slots)
    free = make_gate(full=True, burst=1, slots=slots)
    waiting = record(slow, "slow", [])
    await settle()
    assert slots.in_use == 0
    assert free.try_acquire()
    assert slots.in_use == 1
    free.release_slot()
    assert slots.in_use == 0
    assert await still_waiting(waiting)
    slow.close()


async def test_a_due_turn_waits_for_a_slot_without_spending_its_token() -> None:
    """All slots busy: a call whose token is there waits for a slot, and takes the token only
    with it, so no wait sits between a token and its call."""
    slots = CallSlots(1)
    gate = make_gate(full=True, burst=2, slots=slots)
    other = make_gate(full=True, burst=1, slots=slots)
    assert other.try_acquire()
    assert not gate.try_acquire()
    order: list[str] = []
    waiter = record(gate, "waiter", order)
    assert await still_waiting(waiter)
    assert isinstance(gate.bucket, CountingBucket)
    assert gate.bucket.taken == []
    other.release_slot()
    await asyncio.wait_for(waiter, DEADLINE)
    assert order == ["waiter"]
    assert len(gate.bucket.taken) == 1
    assert slots.in_use == 1


async def test_a_granted_call_is_paced_again_when_it_is_sent() -> None:
    """Turns granted an interval apart whose calls were held up unequally (a slow
    acknowledgement of the first one's in_progress record) still leave an interval apart."""
    now = Shifted()
    start = now()
    gate = Gate(
        CountingBucket(FAST, 1, start, full=True),
        Circuit(1, LONG),
        GateSettings(circuit_threshold=1, circuit_cooldown_s=LONG),
        now,
        random.Random(0),
        send_bucket=TokenBucket(FAST, 1, start, full=True),
    )
    interval = 60 / FAST
    assert gate.try_acquire()
    now.shift += interval
    assert gate.try_acquire()
    now.shift += 2 * interval  # both calls are ready to leave now
    assert gate.until_send() == 0
    gate.sending()
    assert gate.until_send() == pytest.approx(interval, abs=interval / 5)
    now.shift += interval
    assert gate.until_send() == 0
    gate.sending()


async def test_without_a_send_bucket_a_granted_call_leaves_at_once() -> None:
    gate = make_gate(full=True, burst=1)
    assert gate.try_acquire()
    assert gate.until_send() == 0
    gate.sending()
    assert gate.until_send() == 0
