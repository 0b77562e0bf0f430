"""The engine against the sandbox: order inside a lane, concurrency across lanes, rate limits
from the sandbox's own log, head-of-line isolation, Retry-After, the circuit, deadlines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from examples import CHAT
from wawp_gateway.sandbox import FaultRule, Sandbox

from .harness import LIMITED_BURST, LIMITED_RATE_PER_MINUTE, Gateway, command

# Arrival-time jitter: the in-process sandbox stamps a request when its handler runs, which a
# busy event loop can delay for one call more than for the next.
SLACK_S = 0.05


def _text(record: Any) -> str | None:
    for key, value in record.query:
        if key == "message":
            return str(value)
    return None


def arrivals(sandbox: Sandbox, instance: str, action: str = "sendText") -> list[Any]:
    """The instance's requests in the order they reached the sandbox."""
    return sorted(sandbox.requests(instance_id=instance, action=action), key=lambda r: r.at)


async def run_all(gateway: Gateway, cmds: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
    for cmd in cmds:
        await gateway.publish(cmd, **kwargs)
    return [await gateway.outputs.result(c["id"]) for c in cmds]


def texts(instance: str, chat: str, n: int, tag: str) -> list[dict[str, Any]]:
    return [
        command(instance, "sendText", {"chatId": chat, "message": f"{tag}{i}"}) for i in range(n)
    ]


def assert_within_rate(times: list[float], rate_per_minute: float, burst: int) -> None:
    """In every window between two calls: calls <= burst + rate * window / 60."""
    for i in range(len(times)):
        for j in range(i, len(times)):
            window = times[j] - times[i] + SLACK_S
            allowed = burst + rate_per_minute * window / 60
            assert j - i + 1 <= allowed, f"{j - i + 1} calls in {window:.3f} s > {allowed:.2f}"


async def test_commands_of_one_chat_run_in_order(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """One lane: calls reach Wawp in publish order even when answers take varying time."""
    sandbox.add_fault(
        FaultRule(instance_id=instance, kind="latency", latency_ms=40, probability=0.5)
    )
    cmds = texts(instance, CHAT, 20, "m")

    results = await run_all(gateway, cmds, topic=gateway.settings.topics.send)

    assert all(r["status"] == "succeeded" for r in results)
    assert [_text(r) for r in arrivals(sandbox, instance)] == [f"m{i}" for i in range(20)]
    assert [m.body for m in sandbox.messages(instance, CHAT)] == [f"m{i}" for i in range(20)]


async def test_lanes_of_one_instance_run_concurrently(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """Different chats are different lanes: their slow calls overlap instead of queueing."""
    latency_s = 0.6  # below the harness's 1 s Wawp timeout
    sandbox.add_fault(FaultRule(instance_id=instance, kind="latency", latency_ms=latency_s * 1000))
    cmds = [
        command(instance, "sendText", {"chatId": f"4474414290{i:02d}@c.us", "message": f"c{i}"})
        for i in range(12)
    ]

    results = await run_all(gateway, cmds, topic=gateway.settings.topics.send)

    assert all(r["status"] == "succeeded" for r in results)
    times = [r.at for r in arrivals(sandbox, instance)]
    # Sequential calls would arrive a whole latency apart; overlapping ones all arrive before
    # the first answer came back.
    assert times[-1] - times[0] < latency_s


async def test_rate_limit_is_never_exceeded(
    gateway: Gateway, sandbox: Sandbox, limited_instance: str
) -> None:
    """From the sandbox's own log: in any window T, calls <= burst + rate * T / 60."""
    cmds = [
        command(limited_instance, "sendText", {"chatId": f"44744142900{i % 5}", "message": f"r{i}"})
        for i in range(30)
    ]

    results = await run_all(gateway, cmds, topic=gateway.settings.topics.send)

    assert all(r["status"] == "succeeded" for r in results)
    times = [r.at for r in arrivals(sandbox, limited_instance)]
    assert len(times) == 30
    assert_within_rate(times, LIMITED_RATE_PER_MINUTE, LIMITED_BURST)
    # and the limit did bind: 30 calls at 20/s cannot fit in less than ~27/20 s
    assert times[-1] - times[0] >= (30 - LIMITED_BURST) * 60 / LIMITED_RATE_PER_MINUTE * 0.9


async def test_a_rate_limited_instance_does_not_hold_back_its_neighbours(
    gateway: Gateway, sandbox: Sandbox, limited_instance: str, neighbour_of: Any
) -> None:
    """Head-of-line isolation: commands of another instance in the same partition, published
    after a long backlog of a rate-limited instance, finish before that backlog drains."""
    neighbour = neighbour_of(limited_instance)
    backlog = texts(limited_instance, CHAT, 40, "slow")
    quick = [
        command(neighbour, "sendText", {"chatId": CHAT, "message": f"q{i}"}) for i in range(10)
    ]
    send = gateway.settings.topics.send

    for cmd in [*backlog, *quick]:
        await gateway.publish(cmd, topic=send)
    quick_results = [await gateway.outputs.result(c["id"]) for c in quick]
    backlog_results = [await gateway.outputs.result(c["id"]) for c in backlog]

    assert all(r["status"] == "succeeded" for r in quick_results + backlog_results)
    last_slow = max(r["completed_at"] for r in backlog_results)
    assert max(r["completed_at"] for r in quick_results) < last_slow


async def test_retry_after_pauses_only_that_instance(
    gateway: Gateway, sandbox: Sandbox, instance: str, neighbour_of: Any
) -> None:
    """A 429 with Retry-After pauses its instance; a neighbour's calls go on meanwhile."""
    neighbour = neighbour_of(instance)
    sandbox.add_fault(
        FaultRule(instance_id=instance, kind="rate_limited", retry_after_s=2, times=1)
    )
    paused = command(instance, "sendText", {"chatId": CHAT, "message": "after-429"})
    others = [
        command(neighbour, "sendText", {"chatId": CHAT, "message": f"n{i}"}) for i in range(5)
    ]

    results = await run_all(gateway, [paused, *others], topic=gateway.settings.topics.send)

    assert results[0]["attempts"] == 2
    assert all(r["status"] == "succeeded" for r in results)
    first, second = (r.at for r in arrivals(sandbox, instance))
    assert second - first >= 2 - SLACK_S
    assert all(first < r.at < second for r in arrivals(sandbox, neighbour))


async def test_an_open_circuit_holds_sends_but_not_session_actions(
    gateway: Gateway, sandbox: Sandbox, instance: str
) -> None:
    """After `circuit_threshold` answers that the session is down, sends wait; startSession
    bypasses the circuit and repairs the session; the held send then goes through."""
    sandbox.set_session_status(instance, "STOPPED")
    send = gateway.settings.topics.send
    failing = await run_all(gateway, texts(instance, CHAT, 3, "down"), topic=send)
    held = command(instance, "sendText", {"chatId": CHAT, "message": "held"})
    repair = command(instance, "startSession", {})

    await gateway.publish(held, topic=send)
    repaired = await gateway.run(repair)
    held_result = await gateway.outputs.result(held["id"])

    assert {r["error"]["code"] for r in failing} == {"session_not_working"}
    assert repaired["status"] == "succeeded"
    assert held_result["status"] == "succeeded"
    start_at = arrivals(sandbox, instance, "startSession")[0].at
    held_at = next(r.at for r in arrivals(sandbox, instance) if _text(r) == "held")
    assert start_at < held_at


async def test_deadline_passing_while_rate_limited_expires_without_a_call(
    gateway: Gateway, sandbox: Sandbox, limited_instance: str
) -> None:
    """not_after is checked before every attempt, also after waiting for a rate token."""
    not_after = (datetime.now(UTC) + timedelta(seconds=0.6)).isoformat()
    cmds = [
        command(
            limited_instance, "sendText", {"chatId": CHAT, "message": f"d{i}"}, not_after=not_after
        )
        for i in range(40)
    ]

    results = await run_all(gateway, cmds, topic=gateway.settings.topics.send)

    statuses = [r["status"] for r in results]
    sent = statuses.count("succeeded")
    assert 0 < sent < len(cmds)
    assert statuses == ["succeeded"] * sent + ["expired"] * (len(cmds) - sent)
    assert all(r["attempts"] == 0 for r in results if r["status"] == "expired")
    assert len(arrivals(sandbox, limited_instance)) == sent


async def test_many_lanes_finish_under_concurrency(
    gateway: Gateway, sandbox: Sandbox, instance: str, neighbour_of: Any
) -> None:
    """A mixed burst over many lanes and both topics: every command ends once, none lost."""
    other = neighbour_of(instance)
    cmds = [
        command(i, "sendText", {"chatId": f"4474414{n:05d}", "message": f"x{n}"})
        for n in range(60)
        for i in (instance, other)
    ] + [command(instance, "getSessionInfo", {}) for _ in range(10)]

    await asyncio.gather(*(gateway.publish(c) for c in cmds))
    results = [await gateway.outputs.result(c["id"]) for c in cmds]

    assert all(r["status"] == "succeeded" for r in results)
    assert all(len(gateway.outputs.seen.results[c["id"]]) == 1 for c in cmds)
