"""DedupeWindow: the keys seen within the last ``window_s`` seconds (pure, clock injected).

Memory is bounded by time: every lookup first forgets the keys whose window ended. The window is
the same length for every key and the clock is monotonic, so insertion order is expiry order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["DedupeWindow"]


class DedupeWindow:
    def __init__(self, window_s: float, clock: Callable[[], float]) -> None:
        self._window_s = window_s
        self._clock = clock
        self._expiry: OrderedDict[Hashable, float] = OrderedDict()

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
        self._expiry.pop(key, None)
        self._expiry[key] = self._clock() + self._window_s

    def _expire(self) -> None:
        now = self._clock()
        while self._expiry:
            key, expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            del self._expiry[key]
