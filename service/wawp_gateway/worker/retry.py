"""Retry policy: exponential backoff with jitter, capped by attempts and elapsed time. Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]

_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    max_elapsed_s: float
    backoff_initial_s: float
    backoff_max_s: float
    retry_after_max_s: float

    def delay(
        self, attempt: int, *, retry_after_s: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Wait before call number ``attempt + 1``: "equal jitter" keeps at least half the backoff
        so a burst of failures spreads out without ever retrying at once."""
        # The exponent is capped: 2.0 ** 1024 overflows, and 2 ** 64 outgrows any backoff_max_s.
        base = min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** min(64, max(0, attempt - 1)))
        jittered = base / 2 + (rng or _RNG).uniform(0, base / 2)
        if retry_after_s is not None:
            return max(jittered, min(retry_after_s, self.retry_after_max_s))
        return jittered

    def allows(self, attempts: int, elapsed_s: float, delay_s: float) -> bool:
        """May another call be made after ``attempts`` calls, ``elapsed_s`` since receipt?"""
        return attempts < self.max_attempts and elapsed_s + delay_s <= self.max_elapsed_s
