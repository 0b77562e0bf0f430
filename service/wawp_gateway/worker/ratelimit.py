"""Per-instance rate limiting: a token bucket (GCRA), plus a pause for Retry-After.

Pure (times are passed in). "Never exceeded" means: in any window of length T an instance makes
at most ``burst + rate_per_minute * T / 60`` calls. The bucket is kept as GCRA's theoretical
arrival time. Callers ask ``wait_time`` and ``take`` a token only when it is zero, so every call
has a token of its own.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    __slots__ = ("_interval", "_paused_until", "_tat", "_tolerance")

    def __init__(self, rate_per_minute: float, burst: int, now: float, *, full: bool) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be positive and burst at least 1")
        self._interval = 60.0 / rate_per_minute
        self._tolerance = (burst - 1) * self._interval
        # Full: `burst` calls may go at once. Empty (a worker taking over a partition, which
        # cannot know what the previous owner just spent): the first token comes one interval on.
        self._tat = now if full else now + self._tolerance + self._interval
        self._paused_until = 0.0

    def wait_time(self, now: float, *, ignore_pause: bool = False) -> float:
        """Seconds until a token is free (0: one is free now). Session and auth actions
        ``ignore_pause``: a 429 pause must not keep the command that repairs a session waiting."""
        slot = max(now, self._tat - self._tolerance)
        if not ignore_pause:
            slot = max(slot, self._paused_until)
        return slot - now

    def take(self, now: float) -> None:
        """Use a token now; only after ``wait_time(now)`` said 0."""
        self._tat = max(self._tat, now) + self._interval

    def retune(self, rate_per_minute: float, burst: int, now: float) -> None:
        """New limits for the live bucket. Tokens already taken stay taken, and the bucket
        holds no more tokens than it held before (nor more than the new ``burst``): a change
        never grants a fresh burst. From now on it refills at the new rate."""
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be positive and burst at least 1")
        # Tokens free now (negative: the next one is that far off), in the old units.
        level = (now - (self._tat - self._tolerance)) / self._interval + 1
        level = min(level, (self._tolerance / self._interval) + 1, float(burst))
        self._interval = 60.0 / rate_per_minute
        self._tolerance = (burst - 1) * self._interval
        self._tat = now + self._tolerance + self._interval * (1 - level)

    def pause_until(self, moment: float) -> None:
        """Wawp answered 429 with Retry-After: no call of this instance before ``moment``."""
        self._paused_until = max(self._paused_until, moment)

    def paused_until(self) -> float:
        return self._paused_until
