"""Time windows of the webhook receiver, both kept in insertion order = expiry order.

``DedupeWindow``: the keys seen within the last ``window_s`` seconds (pure, clock injected).
Memory is bounded by time and by count: every lookup first forgets the keys whose window ended,
and past ``max_keys`` the oldest key is forgotten early (``on_evict`` is called for each: the
receiver counts them; a redelivery of such an event is published again, as after its window).
The window is the same length for every key and the clock is monotonic, so insertion order is
expiry order, and the oldest key is the first to expire.

``Deadlines``: futures failed with ``TimeoutError`` once ``timeout_s`` passed. One timer for all
of them instead of one per request (a timer per request was ~8% of the receiver's CPU).
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable

__all__ = ["Deadlines", "DedupeWindow"]

_SWEEPS_PER_TIMEOUT = 10  # a future fails at most timeout_s / 10 late


class DedupeWindow:
    def __init__(
        self,
        window_s: float,
        clock: Callable[[], float],
        *,
        max_keys: int = 1_000_000,
        on_evict: Callable[[], object] | None = None,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._on_evict = on_evict
        self._expiry: OrderedDict[Hashable, float] = OrderedDict()
        # When the oldest key expires: most lookups find nothing due and stop at one compare.
        self._next_due = math.inf

    def __contains__(self, key: Hashable) -> bool:
        self._expire()
        return key in self._expiry

    def __len__(self) -> int:
        self._expire()
        return len(self._expiry)

    def add(self, key: Hashable) -> None:
        """Remember ``key`` for the next ``window_s`` seconds (from now, also when re-added)."""
        self._expire()
        if self._window_s <= 0:
            return
        expiry = self._expiry
        if key in expiry:
            del expiry[key]
            self._next_due = next(iter(expiry.values()), math.inf)
        expires = self._clock() + self._window_s
        expiry[key] = expires
        if expires < self._next_due:
            self._next_due = expires
        if len(expiry) > self._max_keys:
            expiry.popitem(last=False)  # the oldest: the first to expire anyway
            self._next_due = next(iter(expiry.values()))
            if self._on_evict is not None:
                self._on_evict()

    def _expire(self) -> None:
        now = self._clock()
        if now < self._next_due:
            return
        expiry = self._expiry
        while expiry:
            key, expires = next(iter(expiry.items()))
            if expires > now:
                self._next_due = expires
                return
            del expiry[key]
        self._next_due = math.inf


class Deadlines:
    """Fails each watched future that is still pending ``timeout_s`` after it was watched."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._every_s = timeout_s / _SWEEPS_PER_TIMEOUT
        self._watched: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, future: asyncio.Future[None]) -> asyncio.Future[None]:
        loop = future.get_loop()
        self._watched.append((loop.time() + self._timeout_s, future))
        if self._timer is None:
            self._timer = loop.call_later(self._every_s, self._sweep, loop)
        return future

    def __len__(self) -> int:
        return len(self._watched)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        watched = self._watched
        while watched and (watched[0][1].done() or watched[0][0] <= now):
            _, future = watched.popleft()
            if not future.done():
                future.set_exception(TimeoutError())
        if watched:
            self._timer = loop.call_later(self._every_s, self._sweep, loop)
