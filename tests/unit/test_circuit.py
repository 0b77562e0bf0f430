"""Circuit: opens after consecutive failures, holds for a cool-down, then one trial."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wawp_gateway.worker.circuit import Circuit, CircuitState

THRESHOLD = 3
COOLDOWN = 10.0


def opened(at: float = 0.0) -> Circuit:
    circuit = Circuit(THRESHOLD, COOLDOWN)
    for _ in range(THRESHOLD):
        circuit.record_failure(at)
    return circuit


def test_a_closed_circuit_lets_every_call_through() -> None:
    """Closed: no wait, for any number of callers."""
    circuit = Circuit(THRESHOLD, COOLDOWN)
    assert [circuit.wait_time(0.0) for _ in range(5)] == [None] * 5


def test_threshold_consecutive_failures_open_the_circuit() -> None:
    """One failure short of the threshold keeps it closed; the threshold opens it."""
    circuit = Circuit(THRESHOLD, COOLDOWN)
    for _ in range(THRESHOLD - 1):
        circuit.record_failure(0.0)
    assert circuit.state is CircuitState.CLOSED
    circuit.record_failure(0.0)
    assert circuit.state is CircuitState.OPEN


def test_a_success_resets_the_failure_count() -> None:
    """Failures separated by a success are not consecutive."""
    circuit = Circuit(THRESHOLD, COOLDOWN)
    for _ in range(THRESHOLD - 1):
        circuit.record_failure(0.0)
    circuit.record_success()
    for _ in range(THRESHOLD - 1):
        circuit.record_failure(0.0)
    assert circuit.state is CircuitState.CLOSED


def test_an_open_circuit_holds_callers_for_the_cooldown() -> None:
    """Open at t=5: callers wait out what is left of the cool-down."""
    circuit = opened(at=5.0)
    assert circuit.wait_time(5.0) == pytest.approx(COOLDOWN)
    assert circuit.wait_time(12.0) == pytest.approx(3.0)
    assert circuit.state is CircuitState.OPEN


def test_half_open_lets_exactly_one_trial_through() -> None:
    """After the cool-down the first caller is the trial; the second waits."""
    circuit = opened()
    assert circuit.wait_time(COOLDOWN) is None
    assert circuit.state is CircuitState.HALF_OPEN
    assert circuit.trial_in_flight
    assert circuit.wait_time(COOLDOWN) is not None


def test_asking_without_claiming_leaves_the_trial_free() -> None:
    """``hold_time`` only looks: after it, ``wait_time`` still grants the trial."""
    circuit = opened()
    assert circuit.hold_time(COOLDOWN) is None
    assert circuit.hold_time(COOLDOWN) is None
    assert not circuit.trial_in_flight
    assert circuit.wait_time(COOLDOWN) is None
    assert circuit.hold_time(COOLDOWN) is not None


def test_a_successful_trial_closes_the_circuit() -> None:
    """Trial success: closed, everyone goes."""
    circuit = opened()
    circuit.wait_time(COOLDOWN)
    circuit.record_success()
    assert circuit.state is CircuitState.CLOSED
    assert circuit.wait_time(COOLDOWN) is None
    assert circuit.wait_time(COOLDOWN) is None


def test_a_failed_trial_reopens_the_circuit_for_another_cooldown() -> None:
    """Trial failure: open again, from the failure's time."""
    circuit = opened()
    circuit.wait_time(COOLDOWN)
    circuit.record_failure(COOLDOWN + 1)
    assert circuit.state is CircuitState.OPEN
    assert circuit.wait_time(COOLDOWN + 2) == pytest.approx(COOLDOWN - 1)


def test_a_neutral_answer_ends_the_trial_without_closing() -> None:
    """A neutral answer frees the trial for the next caller; the circuit stays half-open."""
    circuit = opened()
    circuit.wait_time(COOLDOWN)
    circuit.record_neutral()
    assert circuit.state is CircuitState.HALF_OPEN
    assert circuit.wait_time(COOLDOWN) is None
    assert circuit.wait_time(COOLDOWN) is not None


def test_every_recorded_answer_is_told_to_the_listener() -> None:
    """``on_change`` hears each answer (a gate wakes its waiters on it)."""
    circuit = Circuit(THRESHOLD, COOLDOWN)
    heard = []
    circuit.on_change = lambda: heard.append(circuit.state)
    circuit.record_failure(0.0)
    circuit.record_neutral()
    circuit.record_success()
    assert heard == [CircuitState.CLOSED] * 3


class CircuitMachine(RuleBasedStateMachine):
    """A moving clock and random answers; a model tracks who holds the trial."""

    def __init__(self) -> None:
        super().__init__()
        self.circuit = Circuit(THRESHOLD, COOLDOWN)
        self.now = 0.0
        self.trials = 0  # trial calls granted and not yet answered
        self.consecutive = 0
        self.opened_at: float | None = None  # when it last opened, while not closed

    @rule(seconds=st.floats(0.0, 2 * COOLDOWN))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def ask(self) -> None:
        state = self.circuit.state
        wait = self.circuit.wait_time(self.now)
        if state is CircuitState.CLOSED:
            assert wait is None
            return
        assert self.opened_at is not None
        if self.now < self.opened_at + COOLDOWN:
            assert wait is not None  # never through before the cool-down
            assert wait > 0
            return
        if wait is None:
            self.trials += 1

    @rule()
    def success(self) -> None:
        self.circuit.record_success()
        self.trials = 0
        self.consecutive = 0
        self.opened_at = None

    @rule()
    def failure(self) -> None:
        was = self.circuit.state
        self.circuit.record_failure(self.now)
        self.consecutive += 1
        if was is CircuitState.HALF_OPEN or self.consecutive >= THRESHOLD:
            self.opened_at = self.now
            self.trials = 0

    @precondition(lambda self: self.circuit.state is CircuitState.HALF_OPEN)
    @rule()
    def neutral_on_the_trial(self) -> None:
        self.circuit.record_neutral()
        self.trials = 0

    @rule()
    def neutral(self) -> None:
        was = self.circuit.state
        self.circuit.record_neutral()
        assert self.circuit.state is was
        if was is CircuitState.HALF_OPEN:
            self.trials = 0

    @invariant()
    def never_two_trials_at_once(self) -> None:
        assert self.trials <= 1
        assert self.circuit.trial_in_flight == (self.trials == 1)

    @invariant()
    def closed_exactly_when_the_model_says_so(self) -> None:
        assert (self.circuit.state is CircuitState.CLOSED) == (self.opened_at is None)


TestCircuitNeverRunsTwoTrialsNorOpensEarly = CircuitMachine.TestCase
TestCircuitNeverRunsTwoTrialsNorOpensEarly.__doc__ = "Stateful: one trial at most; no call early."
