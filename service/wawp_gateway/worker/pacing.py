"""Per-instance pacing: who may call Wawp now. Rate limit, Retry-After pause and circuit.

Each instance has a gate: a token bucket, a circuit and a queue of waiting calls. Calls are
granted in order, except that session and auth actions (the ones that repair an instance) go
first and ignore the 429 pause and the open circuit. A grant comes with one of the process's
call slots (``CallSlots``), taken once the turn is due: an instance waiting for its tokens, its
circuit or a Retry-After holds none of them, so it cannot crowd the others out.

An instance whose session is reported down is held the same way (docs/contract.md "Held
instances"): its calls wait in the gate, but session and auth ones, until a
``WORKING`` status lifts the hold; then they go in their order, paced by the bucket.

The rate is checked twice. The grant takes a token (it orders and paces the queue), and the call
takes one more from a twin bucket right before it is sent (``until_send``/``sending``), after
its ``in_progress`` record was acknowledged: that acknowledgement takes a variable time, and
without the second check calls granted far apart could reach Wawp close together.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from wawp_gateway.core.errors import CallRefused
from wawp_gateway.worker.circuit import Circuit, CircuitState
from wawp_gateway.worker.ratelimit import TokenBucket

__all__ = ["CallSlots", "Gate", "GateSettings", "Pacer"]


class CallSlots:
    """The process-wide bound on Wawp calls in flight (``engine.max_in_flight``).

    A slot is held from a call's grant to the call's end, never while a command waits for its
    instance. Released slots go to waiters first come, first served."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        return self.size - self._free

    def try_take(self) -> bool:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def take(self) -> None:
        """Wait for a slot. Cancel-safe: a slot handed over to a cancelled taker goes back."""
        if self.try_take():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # handed over: the free count does not change
                return
        self._free += 1


@dataclass(frozen=True, slots=True)
class GateSettings:
    circuit_threshold: int
    circuit_cooldown_s: float
    jitter_s: float = 0.0


@dataclass(order=True, slots=True)
class _Waiter:
    priority: int
    seq: int
    future: asyncio.Future[bool] = field(compare=False)  # result: the grant is the trial
    bypass: bool = field(compare=False)
    owner: Hashable = field(compare=False, default=None)  # refused together (revoke, stop)


class Gate:
    """One instance's pacing. Time comes from ``now`` (monotonic seconds)."""

    def __init__(
        self,
        bucket: TokenBucket,
        circuit: Circuit,
        settings: GateSettings,
        now: Callable[[], float],
        rng: random.Random,
        slots: CallSlots | None = None,
        send_bucket: TokenBucket | None = None,
    ) -> None:
        """Without ``slots`` calls are not bounded here, without ``send_bucket`` their sending is
        not paced again (unit tests of pacing alone)."""
        self.bucket = bucket
        self._send_bucket = send_bucket
        self.circuit = circuit
        self._settings = settings
        self._now = now
        self._rng = rng
        self._slots = slots
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._next_free = 0.0  # jitter: no send before this moment
        self._session_down = False  # the last session status holds the instance
        # A recorded answer may free the queue early (trial over, circuit closed by a session
        # action): wake the dispatcher instead of letting it sleep out the cool-down.
        circuit.on_change = self._wakeup.set

    def _wait_for(self, bypass: bool) -> float:
        """Seconds until a call of this kind may go, 0 when it may go now (and takes a token
        only then)."""
        now = self._now()
        if not bypass:
            if self._session_down:
                return math.inf  # until a status lifts the hold (it wakes the dispatcher)
            # Only look: the half-open trial is claimed by the grant, not by asking (a waiter
            # told to wait for its token must not hold the one trial while it waits).
            held = self.circuit.hold_time(now)
            if held is not None:
                return held
        wait = self.bucket.wait_time(now, ignore_pause=bypass)
        if not bypass:
            wait = max(wait, self._next_free - now)
        return max(0.0, wait)

    def _grant(self, bypass: bool) -> bool:
        """Take the token (and, half-open, the trial); True when this grant is the trial."""
        now = self._now()
        trial = False
        if not bypass:
            self.circuit.wait_time(now)  # claims the trial when half-open
            trial = self.circuit.trial_in_flight
        self.bucket.take(now)
        if not bypass and self._settings.jitter_s:
            self._next_free = now + self._rng.uniform(0, self._settings.jitter_s)
        return trial

    def try_acquire(self, *, bypass: bool = False, holding_slot: bool = False) -> bool:
        """Take the turn (and a call slot, unless the caller holds one) now if nobody waits
        and both are free (the common, cheap case)."""
        if self._waiters or self._wait_for(bypass) > 0:
            return False
        if self._slots is not None and not holding_slot and not self._slots.try_take():
            return False
        self._grant(bypass)
        return True

    def until_send(self) -> float:
        """Seconds before a granted call may be sent (0: now); 429 pauses are the grant's."""
        if self._send_bucket is None:
            return 0.0
        return max(0.0, self._send_bucket.wait_time(self._now(), ignore_pause=True))

    def sending(self) -> None:
        """A granted call is being sent now (only after ``until_send`` said 0)."""
        if self._send_bucket is not None:
            self._send_bucket.take(self._now())

    def release_slot(self) -> None:
        """The granted call ended (or never started): its slot goes to the next caller."""
        if self._slots is not None:
            self._slots.release()

    async def acquire(self, *, bypass: bool = False, owner: Hashable = None) -> float:
        """Wait for this instance's turn and a call slot; return the seconds waited. The caller
        releases the slot (``release_slot``) once the call ended. Cancel-safe. Raises
        ``CallRefused`` when ``refuse`` names its ``owner`` meanwhile."""
        if self.try_acquire(bypass=bypass):
            return 0.0
        started = self._now()
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(0 if bypass else 1, next(self._seq), future, bypass, owner)
        heapq.heappush(self._waiters, waiter)
        self._wakeup.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        try:
            await future
        except asyncio.CancelledError:
            # Cancelled just after the grant: its token is spent, but a trial nobody makes
            # would hold the instance for good, so it ends here without a verdict.
            if future.done() and not future.cancelled():
                self.release_slot()
                if future.result():
                    self.circuit.record_neutral()
            elif waiter in self._waiters:
                # Gone before its turn (a deadline while held): out of the queue now, or the
                # queue looks busy to ``try_acquire`` until the dispatcher next runs.
                self._waiters.remove(waiter)
                heapq.heapify(self._waiters)
            raise
        return self._now() - started

    async def _dispatch(self) -> None:
        while self._waiters:
            head = self._waiters[0]
            if head.future.done():  # cancelled while waiting
                heapq.heappop(self._waiters)
                continue
            wait = self._wait_for(head.bypass)
            if wait > 0:
                self._wakeup.clear()
                # A new waiter (maybe a session action that goes first) wakes us early.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), None if wait == math.inf else wait)
                continue
            if not await self._slot_for(head):
                continue
            heapq.heappop(self._waiters)
            head.future.set_result(self._grant(head.bypass))

    async def _slot_for(self, head: _Waiter) -> bool:
        """Take a call slot for the due ``head``; False when, meanwhile, it went away or its
        turn moved (a 429 paused the instance, a session action went first): look again."""
        if self._slots is None or self._slots.try_take():
            return True
        await self._slots.take()
        if head.future.done() or self._waiters[0] is not head or self._wait_for(head.bypass) > 0:
            self._slots.release()
            return False
        return True

    def release_unused_turn(self) -> None:
        """A granted turn led to no call (refused, expired, cut off): end a half-open trial so
        the instance is not held until the next session action. (If another caller held the
        trial, one more trial may go: the safe side.)"""
        if self.circuit.trial_in_flight:
            self.circuit.record_neutral()

    def pause(self, retry_after_s: float) -> None:
        """Wawp answered 429: no call of this instance (but session and auth ones) for a while.
        A 429 says nothing about the session, so it also ends a half-open trial unjudged."""
        self.bucket.pause_until(self._now() + retry_after_s)
        self.circuit.record_neutral()
        self._wakeup.set()

    def hold_session(self, down: bool) -> None:
        """The instance's last session status holds it (True) or lets it go (False)."""
        if down != self._session_down:
            self._session_down = down
            self._wakeup.set()

    def holds(self, bypass: bool) -> bool:
        """Whether a call of this kind would wait for the session or the circuit now."""
        return not bypass and self.is_held

    def refuse(self, owners: set[Hashable] | None = None) -> int:
        """Turn away the waiters of ``owners`` (all of them when None) with ``CallRefused``:
        their partitions were revoked or the worker stops, and a held command must not keep
        the drain waiting for its bound. Returns how many were refused."""
        refused = 0
        for waiter in self._waiters:
            if not waiter.future.done() and (owners is None or waiter.owner in owners):
                waiter.future.set_exception(CallRefused("partition revoked or worker stopping"))
                refused += 1
        if refused:
            self._waiters = [w for w in self._waiters if not w.future.done()]
            heapq.heapify(self._waiters)
            self._wakeup.set()
        return refused

    def retune(self, rate_per_minute: float, burst: int) -> None:
        """New limits from the registry, applied to the live buckets: calls already granted
        stand, and no fresh burst comes with the change (``TokenBucket.retune``)."""
        now = self._now()
        self.bucket.retune(rate_per_minute, burst, now)
        if self._send_bucket is not None:
            self._send_bucket.retune(rate_per_minute, burst, now)
        self._wakeup.set()  # the head's wait was computed with the old rate

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
        self._waiters.clear()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.future.done())

    @property
    def is_held(self) -> bool:
        return self._session_down or self.circuit.state is CircuitState.OPEN

    @property
    def session_down(self) -> bool:
        return self._session_down


class Pacer:
    """The gates of every instance this worker paces. Buckets start empty: a worker that takes
    over a partition cannot know what its previous owner just spent."""

    def __init__(
        self,
        limits: Callable[[str], tuple[float, int]],
        settings: GateSettings,
        now: Callable[[], float],
        rng: random.Random | None = None,
        slots: CallSlots | None = None,
        session_down: Callable[[str], bool] = lambda instance_id: False,
    ) -> None:
        """``session_down`` says whether an instance's last session status holds it, for a
        gate made after the status arrived; ``session_changed`` tells the gates that exist."""
        self._limits = limits
        self._session_down = session_down
        self._slots = slots
        self._settings = settings
        self._now = now
        self._rng = rng or random.Random()
        self._gates: dict[str, Gate] = {}

    def gate(self, instance_id: str) -> Gate:
        gate = self._gates.get(instance_id)
        if gate is None:
            rate, burst = self._limits(instance_id)
            now = self._now()
            gate = self._gates[instance_id] = Gate(
                TokenBucket(rate, burst, now, full=False),
                Circuit(self._settings.circuit_threshold, self._settings.circuit_cooldown_s),
                self._settings,
                self._now,
                self._rng,
                self._slots,
                send_bucket=TokenBucket(rate, burst, now, full=False),
            )
            gate.hold_session(self._session_down(instance_id))
        return gate

    def session_changed(self, instance_id: str, *, down: bool, working: bool) -> None:
        """A status record arrived: hold or release the instance; ``WORKING`` also closes a
        circuit that a ``session_not_working`` answer opened."""
        gate = self._gates.get(instance_id)
        if gate is not None:
            gate.hold_session(down)
            if working:
                gate.circuit.session_working()

    def refuse(self, instance_ids: set[str] | None, owners: set[Hashable] | None = None) -> int:
        """``Gate.refuse`` on the gates of ``instance_ids`` (every gate when None)."""
        gates = (
            self._gates.values()
            if instance_ids is None
            else (g for i, g in self._gates.items() if i in instance_ids)
        )
        return sum(gate.refuse(owners) for gate in list(gates))

    def retune(self, instance_id: str) -> None:
        """The instance's limits changed: its live gate (if any) takes them now."""
        gate = self._gates.get(instance_id)
        if gate is not None:
            gate.retune(*self._limits(instance_id))

    def forget(self, instance_ids: set[str]) -> None:
        """Drop gates of instances whose partitions this worker no longer owns."""
        for instance_id in instance_ids:
            gate = self._gates.pop(instance_id, None)
            if gate is not None:
                gate.close()

    def close(self) -> None:
        self.forget(set(self._gates))

    def is_held(self, instance_id: str) -> bool:
        gate = self._gates.get(instance_id)
        return gate is not None and gate.is_held

    def held_instances(self) -> list[str]:
        return [i for i, g in self._gates.items() if g.is_held]

    def circuit_is_open(self, instance_id: str) -> bool:
        gate = self._gates.get(instance_id)
        return gate is not None and gate.circuit.state is CircuitState.OPEN

    def open_circuits(self) -> list[str]:
        return [i for i, g in self._gates.items() if g.circuit.state is CircuitState.OPEN]
