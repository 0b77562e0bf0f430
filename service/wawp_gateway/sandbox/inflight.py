"""The requests the sandbox is holding right now: received, not yet answered (or let go).

Each Wawp request is an `Exchange` from its arrival to its answer, numbered in arrival order.
Tests read `held()` to act while a call is in flight, e.g. to kill the client that made it:
`client` is the peer address of the request's TCP connection, as the server saw it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Exchange", "HeldRequest", "InFlightRequests"]


@dataclass(slots=True)
class Exchange:
    """What is known about one Wawp request, filled in as it is handled."""

    arrival: int  # 1, 2, ... in the order requests arrived
    at: float
    method: str
    path: str  # raw, percent-encoded, as received
    query: list[tuple[str, str]]  # tokens redacted
    client: tuple[str, int] | None
    body: Any = None
    action: str | None = None
    instance_id: str | None = None
    token_in: Literal["query", "body"] | None = None
    token_valid: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, secrets redacted


@dataclass(frozen=True, slots=True)
class HeldRequest:
    """A request still being handled when `held()` was called."""

    arrival: int
    at: float
    method: str
    path: str
    client: tuple[str, int] | None
    action: str | None
    instance_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "arrival": self.arrival,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "client": list(self.client) if self.client is not None else None,
            "action": self.action,
            "instance_id": self.instance_id,
        }


class InFlightRequests:
    """The open exchanges, by arrival number. Use it from the event loop that serves them."""

    def __init__(self) -> None:
        self._open: dict[int, Exchange] = {}
        self._changed = asyncio.Event()
        self.arrived = 0  # requests received so far: the arrival number of the latest

    def open(
        self,
        *,
        at: float,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        client: tuple[str, int] | None,
        headers: dict[str, str] | None = None,
    ) -> Exchange:
        self.arrived += 1
        exchange = Exchange(self.arrived, at, method, path, query, client, headers=headers or {})
        self._open[exchange.arrival] = exchange
        self._notify()
        return exchange

    def close(self, exchange: Exchange) -> None:
        if self._open.pop(exchange.arrival, None) is not None:
            self._notify()

    def held(self, instance_id: str | None = None) -> list[HeldRequest]:
        """The open requests (of one instance when given), oldest arrival first."""
        return [
            HeldRequest(e.arrival, e.at, e.method, e.path, e.client, e.action, e.instance_id)
            for e in self._open.values()
            if instance_id is None or e.instance_id == instance_id
        ]

    async def changed(self) -> None:
        """Return at the next arrival or answer (wrap it in a timeout)."""
        await self._changed.wait()

    def _notify(self) -> None:
        # Wake every current waiter once; later waiters wait for the next change.
        self._changed.set()
        self._changed = asyncio.Event()
