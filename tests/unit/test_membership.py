"""The standing of a worker in its group: no call once a rebalance is known, nor after a
session timeout without a successful heartbeat (a cut-off or paused worker may be replaced)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wawp_gateway.core.membership import GroupStanding


class FakeCoordinator:
    def __init__(self) -> None:
        self._rejoin_needed_fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.answer = True

    async def _do_heartbeat(self) -> bool:
        return self.answer


class FakeConsumer:
    def __init__(self) -> None:
        self._coordinator = FakeCoordinator()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr("wawp_gateway.core.membership.time.monotonic", lambda: now[0])
    return now


async def test_a_session_timeout_without_a_heartbeat_stops_calls(clock: list[float]) -> None:
    consumer: Any = FakeConsumer()
    standing = GroupStanding(consumer, session_timeout_s=3)
    standing.watch()
    assert standing.problem() is None
    clock[0] += 2.9
    assert standing.problem() is None
    clock[0] += 0.2
    assert standing.problem() == "no word from the group coordinator for a session timeout"
    assert await consumer._coordinator._do_heartbeat()  # the watched heartbeat answers again
    assert standing.problem() is None


async def test_a_failed_heartbeat_is_no_word(clock: list[float]) -> None:
    consumer: Any = FakeConsumer()
    standing = GroupStanding(consumer, session_timeout_s=3)
    standing.watch()
    consumer._coordinator.answer = False
    clock[0] += 3.5
    assert not await consumer._coordinator._do_heartbeat()
    assert standing.problem() is not None


async def test_a_known_rebalance_stops_calls_at_once(clock: list[float]) -> None:
    consumer: Any = FakeConsumer()
    standing = GroupStanding(consumer, session_timeout_s=3)
    standing.watch()
    consumer._coordinator._rejoin_needed_fut.set_result(None)
    assert standing.problem() == "a rebalance is under way"
    # Heartbeats answered during a rebalance do not count as standing.
    clock[0] += 3.5
    await consumer._coordinator._do_heartbeat()
    consumer._coordinator._rejoin_needed_fut = asyncio.get_running_loop().create_future()
    assert standing.problem() is not None


async def test_watching_twice_wraps_once(clock: list[float]) -> None:
    consumer: Any = FakeConsumer()
    standing = GroupStanding(consumer, session_timeout_s=3)
    standing.watch()
    wrapped = consumer._coordinator._do_heartbeat
    standing.watch()
    assert consumer._coordinator._do_heartbeat is wrapped


async def test_reads_the_real_aiokafka_coordinator() -> None:
    """The private attributes this module relies on exist in the installed aiokafka."""
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    assert hasattr(GroupCoordinator, "_do_heartbeat")
    assert "_rejoin_needed_fut" in GroupCoordinator.__init__.__code__.co_names
    assert "_coordination_task" in GroupCoordinator.__init__.__code__.co_names
