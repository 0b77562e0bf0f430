"""Per-partition offset tracking: commit only the highest *contiguous* completed offset. Pure.

Records of one partition finish out of order (many lanes in flight); committing past a record
that has not finished would lose it on a crash, so the committable position only moves over a
prefix of finished records.
"""

from __future__ import annotations

from collections import deque

__all__ = ["OffsetTracker"]


class OffsetTracker:
    """Offsets are added in fetch order and marked done in any order."""

    __slots__ = ("_done", "_pending", "_position")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._position: int | None = None

    def add(self, offset: int) -> None:
        if self._pending and offset <= self._pending[-1]:
            raise ValueError(f"offset {offset} added out of order")
        self._pending.append(offset)

    def done(self, offset: int) -> None:
        self._done.add(offset)
        pending = self._pending
        while pending and pending[0] in self._done:
            finished = pending.popleft()
            self._done.discard(finished)
            self._position = finished + 1

    def committable(self) -> int | None:
        """The offset to commit (next record to read), or None when nothing finished yet."""
        return self._position

    @property
    def outstanding(self) -> int:
        """Records added and not yet finished."""
        return len(self._pending)

    def first_unfinished(self) -> int | None:
        return self._pending[0] if self._pending else None
