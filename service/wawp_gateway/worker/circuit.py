"""Per-instance circuit: stop hammering an instance whose session is down. Pure.

It opens after ``threshold`` consecutive answers that say the instance is not working (session
not working, or Wawp did not / may not have processed the call); while open, that instance's
send lanes wait. After ``cooldown_s`` one real command is let through (half-open, no hidden
probe call); its success closes the circuit, its failure opens it again. A
``session_not_working`` answer opens it at once (``trip``): Wawp said the session is down, no
need to count. Such an opening also ends when a ``WORKING`` session status arrives
(``session_working``); one opened by failing calls waits for its trial.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

__all__ = ["Circuit", "CircuitState"]


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Circuit:
    __slots__ = (
        "_by_session",
        "_cooldown_s",
        "_failures",
        "_opened_at",
        "_state",
        "_threshold",
        "_trial",
        "on_change",
    )

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        # Told after every recorded answer (a gate wakes its waiters: a trial ended, or a
        # session action closed the circuit before its cool-down was over).
        self.on_change: Callable[[], None] | None = None
        self._threshold = threshold
        self._cooldown_s = cooldown_s
        self._failures = 0
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0
        self._trial = False
        self._by_session = False

    @property
    def state(self) -> CircuitState:
        return self._state

    def hold_time(self, now: float) -> float | None:
        """Like ``wait_time`` but claims nothing: None when a call could go now."""
        if self._state is CircuitState.CLOSED:
            return None
        if self._state is CircuitState.OPEN:
            remaining = self._opened_at + self._cooldown_s - now
            if remaining > 0:
                return remaining
            self._state = CircuitState.HALF_OPEN
            self._trial = False
        if not self._trial:
            return None
        return self._cooldown_s  # a trial is in flight; ask again later

    def wait_time(self, now: float) -> float | None:
        """None: the caller may call now (and, half-open, is the one trial). Otherwise how long
        to wait before asking again."""
        held = self.hold_time(now)
        if held is None and self._state is CircuitState.HALF_OPEN:
            self._trial = True
        return held

    @property
    def trial_in_flight(self) -> bool:
        return self._state is CircuitState.HALF_OPEN and self._trial

    def record_success(self) -> None:
        self._failures = 0
        self._by_session = False
        self._state = CircuitState.CLOSED
        self._trial = False
        self._changed()

    def record_failure(self, now: float) -> None:
        """An answer that says the instance is not working."""
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN or self._failures >= self._threshold:
            self._state = CircuitState.OPEN
            self._opened_at = now
            self._trial = False
        self._changed()

    def trip(self, now: float) -> None:
        """Wawp answered that the instance's session is not working: open now, whatever the
        count (docs/contract.md "Held instances")."""
        self._failures = max(self._failures + 1, self._threshold)
        self._state = CircuitState.OPEN
        self._opened_at = now
        self._trial = False
        self._by_session = True
        self._changed()

    def session_working(self) -> None:
        """A ``WORKING`` status arrived: close a circuit a session answer opened."""
        if self._by_session and self._state is not CircuitState.CLOSED:
            self.record_success()

    def record_neutral(self) -> None:
        """An answer that says nothing about the instance's health (e.g. a 400 for bad params):
        it ends a half-open trial without changing the verdict."""
        if self._state is CircuitState.HALF_OPEN:
            self._trial = False
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
