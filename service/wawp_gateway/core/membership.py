"""Whether this worker may still act as the owner of its partitions.

docs/contract.md "Consumption and hand-over": no call starts once the worker knows of a
rebalance, nor while it has not heard from the group coordinator for a session timeout (a paused
or cut-off process may already have been replaced). aiokafka keeps both facts inside its group
coordinator; this module is the one place that reads them, so an aiokafka upgrade that moves
them breaks here, and its tests, not silently elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

__all__ = ["GroupStanding", "stop_consumer"]


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """``consumer.stop()``, without waiting out a first join still under way.

    aiokafka's stop lets the coordination task finish what it does, and a join can take the
    group's whole rebalance (measured: a SIGTERM during the first join took 23 s to exit on the
    embedded broker). A member that never got partitions owns nothing and has nothing to commit,
    so its join is abandoned instead: to the group it looks like a member that left before it
    synced, which the coordinator drops."""
    coordinator = getattr(consumer, "_coordinator", None)
    task = getattr(coordinator, "_coordination_task", None)
    if task is not None and not task.done() and not consumer.assignment():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await consumer.stop()


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
