"""DedupeWindow: keys are remembered for the window, then forgotten (memory bounded by time).
Deadlines: futures still pending after the timeout fail."""

from __future__ import annotations

import asyncio

import pytest

from wawp_gateway.webhook.dedupe import Deadlines, DedupeWindow


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_key_is_seen_within_the_window_and_forgotten_after() -> None:
    """A key added is a duplicate until the window ends, then new again."""
    clock = _Clock()
    window = DedupeWindow(10.0, clock)
    window.add(("I", "evt_1"))
    clock.now += 9.9
    assert ("I", "evt_1") in window
    clock.now += 0.1
    assert ("I", "evt_1") not in window


def test_keys_are_per_instance() -> None:
    """The same id of another instance is another event."""
    window = DedupeWindow(10.0, _Clock())
    window.add(("A", "evt_1"))
    assert ("B", "evt_1") not in window


def test_expired_keys_are_dropped_from_memory() -> None:
    """Memory holds only the keys of the last window."""
    clock = _Clock()
    window = DedupeWindow(500.0, clock)
    for n in range(1000):
        clock.now += 1
        window.add(("I", f"evt_{n}"))
    assert len(window) == 500
    clock.now += 500
    assert len(window) == 0


def test_re_adding_a_key_restarts_its_window() -> None:
    """A key added again lives for a whole window from then, behind newer keys."""
    clock = _Clock()
    window = DedupeWindow(10.0, clock)
    window.add("a")
    clock.now += 5
    window.add("b")
    clock.now += 1
    window.add("a")
    clock.now += 8
    assert "a" in window
    assert "b" in window
    clock.now += 1
    assert "b" not in window
    assert "a" in window


def test_zero_window_remembers_nothing() -> None:
    """GATEWAY_WEBHOOK__DEDUPE_WINDOW_S=0 turns de-duplication off."""
    window = DedupeWindow(0.0, _Clock())
    window.add("a")
    assert "a" not in window


async def test_deadlines_fail_a_pending_future_and_leave_a_settled_one() -> None:
    """A future still pending after the timeout fails with TimeoutError; one already answered
    keeps its answer, and the watch list empties."""
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(0.05)
    answered: asyncio.Future[None] = loop.create_future()
    hanging: asyncio.Future[None] = loop.create_future()
    deadlines.watch(answered)
    deadlines.watch(hanging)
    answered.set_result(None)
    started = loop.time()
    with pytest.raises(TimeoutError):
        await hanging
    assert loop.time() - started >= 0.05 - 0.01  # not before its deadline (loop clock slack)
    assert answered.result() is None
    assert len(deadlines) == 0


async def test_deadlines_start_again_after_the_list_emptied() -> None:
    """The timer stops when nothing is watched and starts with the next watch."""
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(0.02)
    for _ in range(2):
        future: asyncio.Future[None] = loop.create_future()
        with pytest.raises(TimeoutError):
            await deadlines.watch(future)
        assert len(deadlines) == 0


def test_past_max_keys_the_oldest_are_forgotten_and_counted() -> None:
    """The count bound: the window keeps the newest max_keys keys, calling on_evict per key."""
    clock = _Clock()
    evicted: list[None] = []
    window = DedupeWindow(600.0, clock, max_keys=100, on_evict=lambda: evicted.append(None))
    for n in range(250):
        clock.now += 0.001
        window.add(f"I\x1fevt_{n}")

    assert len(window) == 100
    assert len(evicted) == 150
    assert "I\x1fevt_149" not in window
    assert all(f"I\x1fevt_{n}" in window for n in range(150, 250))
    # Time still expires the rest, oldest first.
    clock.now += 600.0 - 0.05
    assert len(window) < 100


def test_re_adding_a_key_at_the_cap_evicts_nothing() -> None:
    clock = _Clock()
    evicted: list[None] = []
    window = DedupeWindow(600.0, clock, max_keys=3, on_evict=lambda: evicted.append(None))
    for key in ("a", "b", "c", "a", "b"):
        window.add(key)
    assert (len(window), evicted) == (3, [])


def test_max_keys_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        DedupeWindow(1.0, _Clock(), max_keys=0)
