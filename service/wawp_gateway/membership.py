"""Whether this worker may still act as the owner of its partitions.

ARCHITECTURE.md "Consumption and hand-over": no call starts once the worker knows of a
rebalance, nor while it has not heard from the group coordinator for a session timeout (a paused
or cut-off process may already have been replaced). aiokafka keeps both facts inside its group
coordinator; this module is the one place that reads them, so an aiokafka upgrade that moves
them breaks here, and its tests, not silently elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

__all__ = ["GroupStanding"]


class GroupStanding:
    def __init__(self, consumer: AIOKafkaConsumer, session_timeout_s: float) -> None:
        self._consumer = consumer
        self._session_timeout_s = session_timeout_s
        self._last_heard = time.monotonic()
        self._watched: Any = None

    def _coordinator(self) -> Any:
        return getattr(self._consumer, "_coordinator", None)

    def heard(self) -> None:
        """The coordinator answered (a join, a sync, a heartbeat)."""
        self._last_heard = time.monotonic()

    def watch(self) -> None:
        """Time every successful heartbeat (call once the consumer has started)."""
        coordinator = self._coordinator()
        if coordinator is None or coordinator is self._watched:
            return
        heartbeat: Callable[[], Awaitable[bool]] = coordinator._do_heartbeat

        async def timed() -> bool:
            ok = await heartbeat()
            if ok and not self.rebalancing():
                self.heard()
            return ok

        coordinator._do_heartbeat = timed
        self._watched = coordinator

    def rebalancing(self) -> bool:
        coordinator = self._coordinator()
        if coordinator is None:
            return False
        return bool(coordinator._rejoin_needed_fut.done())

    def problem(self) -> str | None:
        """Why no call may start now, or None."""
        if self.rebalancing():
            return "a rebalance is under way"
        if time.monotonic() - self._last_heard > self._session_timeout_s:
            return "no word from the group coordinator for a session timeout"
        return None
