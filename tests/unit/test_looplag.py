"""The event-loop lag sampler: a loop kept busy shows as lag; the watcher stops with its block."""

from __future__ import annotations

import asyncio
import time

from wawp_gateway.core.looplag import watch_loop_lag, watching_loop_lag

DEADLINE_S = 2.0


class Samples:
    def __init__(self) -> None:
        self.seen: list[float] = []
        self.arrived = asyncio.Event()

    def observe(self, lag: float) -> None:
        self.seen.append(lag)
        self.arrived.set()

    async def next(self) -> float:
        self.arrived.clear()
        await asyncio.wait_for(self.arrived.wait(), DEADLINE_S)
        return self.seen[-1]


def _busy(seconds: float) -> None:
    """Keep the event loop busy (CPU work that does not yield), as a loaded worker does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_a_blocked_loop_is_observed_as_lag() -> None:
    samples = Samples()
    task = asyncio.create_task(watch_loop_lag(samples.observe, every_s=0.01))
    try:
        await samples.next()  # the watcher runs; its next timer is due in 10 ms
        _busy(0.05)
        lag = await samples.next()
    finally:
        task.cancel()
    assert lag >= 0.035
    assert all(value >= 0 for value in samples.seen)


async def test_the_watcher_runs_for_its_block_only() -> None:
    samples = Samples()
    async with watching_loop_lag(samples.observe):
        await samples.next()
    count = len(samples.seen)
    samples.arrived.clear()
    waiting = asyncio.ensure_future(samples.arrived.wait())
    done, _ = await asyncio.wait({waiting}, timeout=0.3)
    waiting.cancel()
    assert not done
    assert len(samples.seen) == count
