"""Who may still start calls for a partition: the owners the changelog shows as not fenced.

docs/contract.md "Consumption and hand-over": every owner writes a marker before it runs
anything and ``released`` when it gives the partition up; both carry the owner's id in the
``gateway-owner`` header. Reading the changelog in order, an owner is *open* from its marker
until its own ``released``. A ``released`` also closes every owner whose marker came before
the releasing owner's marker: an owner writes ``released`` only for a partition it had fully
taken over, and taking over includes waiting out every owner assigned before it.

The last status alone is not enough: with owners A and B marked in that order, A's late
``released`` is the partition's last record while B may still be calling.

Records written before owners had ids carry no header; they count as one anonymous owner, so
such a history reads as it did before.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

__all__ = ["OWNER_HEADER", "Owners", "new_owner_id", "owner_of"]

OWNER_HEADER = "gateway-owner"
_ANONYMOUS = ""


def new_owner_id() -> str:
    """One per process: a restarted worker is a new owner (its predecessor may not have
    released)."""
    return uuid.uuid4().hex


def owner_of(headers: Sequence[tuple[str, bytes]] | None) -> str:
    """The ``gateway-owner`` header of a marker or ``released`` record."""
    for name, value in headers or ():
        if name == OWNER_HEADER:
            return value.decode("utf-8", errors="replace")
    return _ANONYMOUS


class Owners:
    """Open owners of one partition, each with the offset of its latest marker."""

    def __init__(self, marked: dict[str, int] | None = None) -> None:
        self._marked = dict(marked or {})

    def marked(self, owner: str, offset: int) -> None:
        self._marked[owner] = offset

    def released(self, owner: str) -> None:
        own = self._marked.pop(owner, None)
        if own is not None:
            self._marked = {o: at for o, at in self._marked.items() if at > own}

    def took_over(self, owner: str, offset: int) -> None:
        """``owner``, marked at ``offset``, has taken the partition over: every owner marked
        before it is fenced (it waited them out, or none was open)."""
        kept = {o: at for o, at in self._marked.items() if at > offset and o != owner}
        self._marked = {**kept, owner: offset}

    def open_besides(self, owner: str) -> list[str]:
        """The owners that may still start calls, this process's own id left out (an attempt of
        its own to take the partition over was abandoned before it ran anything)."""
        return sorted(o for o in self._marked if o != owner)

    def clear(self) -> None:
        self._marked.clear()

    def to_bytes(self) -> bytes:
        return json.dumps(self._marked, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Owners:
        if raw is None:
            return cls()
        return cls({str(o): int(at) for o, at in json.loads(raw).items()})
