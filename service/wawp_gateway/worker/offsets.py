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

    __slots__ = ("_last", "_pending", "_position", "_unfinished")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._unfinished: set[int] = set()  # of the pending ones
        self._last: int | None = None  # the highest offset ever added
        self._position: int | None = None

    def add(self, offset: int) -> None:
        # Compared with every offset added so far, not only the pending ones: a record added
        # again after its offset was passed would sit below the committable position.
        if self._last is not None and offset <= self._last:
            raise ValueError(f"offset {offset} added out of order")
        self._last = offset
        self._pending.append(offset)
        self._unfinished.add(offset)

    def done(self, offset: int) -> None:
        """Mark ``offset`` finished; an offset that is not outstanding (never added, or already
        done) changes nothing."""
        if offset not in self._unfinished:
            return
        self._unfinished.discard(offset)
        pending = self._pending
        while pending and pending[0] not in self._unfinished:
            self._position = pending.popleft() + 1

    def committable(self) -> int | None:
        """The offset to commit (next record to read), or None when nothing finished yet."""
        return self._position

    @property
    def outstanding(self) -> int:
        """Records added and not yet finished."""
        return len(self._unfinished)

    def first_unfinished(self) -> int | None:
        return self._pending[0] if self._pending else None
