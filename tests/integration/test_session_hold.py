"""Sends held while an instance's session is down (docs/contract.md "Held instances"), end to
end: the sandbox posts ``session.status`` to the real receiver, the receiver writes
``wawp.sessions``, the worker follows it and holds the instance's sends in their lanes; a
``WORKING`` status releases them in order, paced by the instance's bucket."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.sections import EngineSettings, RetrySettings, ShutdownSettings
from wawp_gateway.sandbox import Sandbox
from wawp_gateway.worker.sessions import SessionBook

from .harness import (
    DEADLINE_S,
    LIMITED_BURST,
    LIMITED_RATE_PER_MINUTE,
    PARTITIONS,
    Gateway,
    command,
    gateway_settings,
    receiving_and_tracking,
    running_gateway,
)
from .test_engine import arrivals, assert_within_rate

CHATS = tuple(f"4474414291{n:02d}@c.us" for n in range(5))
HELD_COMMANDS = 50


async def status_reached(book: SessionBook, instance: str, status: str) -> None:
    """Until the worker has read ``status`` as the instance's last one."""
    reached = asyncio.Event()

    def heard(instance_id: str, new: str | None) -> None:
        if instance_id == instance and new == status:
            reached.set()

    stop = book.listen(heard)
    try:
        if book.status_of(instance) != status:
            await asyncio.wait_for(reached.wait(), DEADLINE_S)
    finally:
        stop()


def held_gauge(gateway: Gateway) -> float:
    value = gateway.app.metrics.registry.get_sample_value("gateway_held_commands")
    return value or 0.0


async def held_at_least(gateway: Gateway, count: int) -> None:
    """Until the worker reports ``count`` held commands (a gauge: polled, with a deadline)."""
    async with asyncio.timeout(DEADLINE_S):
        while held_gauge(gateway) < count:  # noqa: ASYNC110 (a gauge of the worker: polled)
            await asyncio.sleep(0.02)  # polling a gauge: no event to wait on


def text_of(record: Any) -> str | None:
    for key, value in record.query:
        if key == "message":
            return str(value)
    return None


async def test_a_stopped_instance_is_held_until_working_then_released_in_order(
    gateway: Gateway, sandbox: Sandbox, limited_instance: str, neighbour_of: Any
) -> None:
    held = limited_instance
    other = neighbour_of(held)  # the same partition: it must not wait behind the held one
    sends = gateway.settings.topics.send
    async with receiving_and_tracking(gateway.settings, sandbox):
        sandbox.set_session_status(held, "STOPPED")  # posted to the receiver by the sandbox
        await status_reached(gateway.app.sessions, held, "STOPPED")
        assert gateway.app.metrics.registry.get_sample_value(
            "gateway_instance_sessions", {"status": "STOPPED"}
        )

        cmds = [
            command(held, "sendText", {"chatId": CHATS[i % 5], "message": f"h{i}"})
            for i in range(HELD_COMMANDS)
        ]
        for cmd in cmds:
            await gateway.publish(cmd, topic=sends)
        # Alone in its lane, so it waits at the head, where its deadline is watched.
        late = command(
            held,
            "sendText",
            {"chatId": "447441429199@c.us", "message": "late"},
            not_after=(datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        )
        await gateway.publish(late, topic=sends)
        await held_at_least(gateway, HELD_COMMANDS)

        # Meanwhile: its neighbour's sends go, and so do its own session actions.
        others = [
            command(other, "sendText", {"chatId": CHATS[i % 5], "message": f"o{i}"})
            for i in range(10)
        ]
        for cmd in others:
            await gateway.publish(cmd, topic=sends)
        info = await gateway.run(command(held, "getSessionInfo", {}))
        assert info["status"] == "succeeded", info
        assert info["response"]["status"] == "STOPPED"
        for cmd in others:
            assert (await gateway.outputs.result(cmd["id"]))["status"] == "succeeded"

        # The send whose not_after passed while it was held: expired, with no call.
        expired = await gateway.outputs.result(late["id"])
        assert expired["status"] == "expired", expired
        assert expired["attempts"] == 0
        assert arrivals(sandbox, held) == []  # nothing sent while STOPPED
        assert held_gauge(gateway) >= HELD_COMMANDS

        sandbox.set_session_status(held, "WORKING")
        results = [await gateway.outputs.result(c["id"]) for c in cmds]

    assert [r["status"] for r in results] == ["succeeded"] * HELD_COMMANDS
    calls = arrivals(sandbox, held)
    assert len(calls) == HELD_COMMANDS  # each once, and never the expired one
    for n, chat in enumerate(CHATS):
        in_chat = [text_of(r) for r in calls if ("chatId", chat) in r.query]
        assert in_chat == [f"h{i}" for i in range(n, HELD_COMMANDS, 5)]
    assert_within_rate([r.at for r in calls], LIMITED_RATE_PER_MINUTE, LIMITED_BURST)
    assert held_gauge(gateway) == 0


async def test_a_stop_gives_held_commands_up_at_once_and_the_next_worker_holds_them(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], instance: str, unique: Any
) -> None:
    """Held commands made no call: a stop does not wait its grace for them, commits below them,
    and the next worker gets them again, holds them, and releases them on WORKING, once each."""
    sandbox, url = sandbox_url
    grace_s = 30.0
    settings = gateway_settings(
        kafka_bootstrap,
        url,
        unique("hold-stop"),
        [instance],
        shutdown=ShutdownSettings(grace_s=grace_s),
    )
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    cmds = [
        command(instance, "sendText", {"chatId": CHATS[i % 3], "message": f"s{i}"})
        for i in range(12)
    ]
    async with receiving_and_tracking(settings, sandbox):
        async with running_gateway(settings, sandbox, create=False) as first:
            sandbox.set_session_status(instance, "STOPPED")
            await status_reached(first.app.sessions, instance, "STOPPED")
            for cmd in cmds:
                await first.publish(cmd, topic=settings.topics.send)
            await held_at_least(first, len(cmds))
            stopping = time.monotonic()
        stopped_in = time.monotonic() - stopping
        assert stopped_in < grace_s / 2, f"the stop waited {stopped_in:.1f} s for held commands"
        assert arrivals(sandbox, instance) == []

        async with running_gateway(settings, sandbox, create=False) as second:
            await status_reached(second.app.sessions, instance, "STOPPED")
            await held_at_least(second, len(cmds))
            sandbox.set_session_status(instance, "WORKING")
            results = [await second.outputs.result(c["id"]) for c in cmds]
            await second.outputs.wait_for(lambda seen: len(seen.results) >= len(cmds))
            counts = Counter(
                {cid: len(found) for cid, found in second.outputs.seen.results.items()}
            )

    assert [r["status"] for r in results] == ["succeeded"] * len(cmds)
    assert counts == Counter({c["id"]: 1 for c in cmds})
    assert Counter(text_of(r) for r in arrivals(sandbox, instance)) == Counter(
        {f"s{i}": 1 for i in range(len(cmds))}
    )


async def test_a_held_instance_at_its_buffer_bound_stalls_no_neighbour(
    kafka_bootstrap: str,
    sandbox_url: tuple[Sandbox, str],
    instance: str,
    neighbour_of: Any,
    unique: Any,
) -> None:
    """Its share of the buffer full, a held instance's further commands fail at once
    (instance_unavailable) and the partition keeps moving for the other instances."""
    sandbox, url = sandbox_url
    share = 10
    neighbour = neighbour_of(instance)
    settings = gateway_settings(
        kafka_bootstrap,
        url,
        unique("hold-full"),
        [instance, neighbour],
        engine=EngineSettings(
            max_buffered_per_instance=share, circuit_threshold=3, circuit_cooldown_s=1.0
        ),
    )
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    held = [
        command(instance, "sendText", {"chatId": CHATS[i % 5], "message": f"f{i}"})
        for i in range(share + 5)
    ]
    others = [
        command(neighbour, "sendText", {"chatId": CHATS[i % 5], "message": f"n{i}"})
        for i in range(10)
    ]
    async with (
        receiving_and_tracking(settings, sandbox),
        running_gateway(settings, sandbox, create=False) as gw,
    ):
        sandbox.set_session_status(instance, "STOPPED")
        await status_reached(gw.app.sessions, instance, "STOPPED")
        for cmd in [*held, *others]:
            await gw.publish(cmd, topic=settings.topics.send)
        for cmd in others:
            assert (await gw.outputs.result(cmd["id"]))["status"] == "succeeded"
        over = [await gw.outputs.result(c["id"]) for c in held[share:]]
        assert [(r["status"], r["error"]["code"]) for r in over] == [
            ("failed", "instance_unavailable")
        ] * 5
        assert arrivals(sandbox, instance) == []
        sandbox.set_session_status(instance, "WORKING")
        released = [await gw.outputs.result(c["id"]) for c in held[:share]]
    assert [r["status"] for r in released] == ["succeeded"] * share


async def test_a_command_held_past_the_elapsed_cap_fails_instance_unavailable(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], instance: str, unique: Any
) -> None:
    """GATEWAY_RETRY__MAX_ELAPSED_S applies while held: failed, instance_unavailable, no call,
    dead-lettered as retries_exhausted (replayable)."""
    sandbox, url = sandbox_url
    settings = gateway_settings(
        kafka_bootstrap,
        url,
        unique("hold-cap"),
        [instance],
        retry=RetrySettings(max_attempts=4, max_elapsed_s=1, backoff_initial_s=0.01),
    )
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    cmds = [
        command(instance, "sendText", {"chatId": CHATS[i % 2], "message": f"c{i}"})
        for i in range(4)
    ]
    async with (
        receiving_and_tracking(settings, sandbox),
        running_gateway(settings, sandbox, create=False) as gw,
    ):
        sandbox.set_session_status(instance, "FAILED")
        await status_reached(gw.app.sessions, instance, "FAILED")
        for cmd in cmds:
            await gw.publish(cmd, topic=settings.topics.send)
        results = [await gw.outputs.result(c["id"]) for c in cmds]
        letters = [await gw.outputs.dlq_for(c["id"]) for c in cmds]
        sandbox.set_session_status(instance, "WORKING")

    assert [(r["status"], r["error"]["code"], r["attempts"]) for r in results] == [
        ("failed", "instance_unavailable", 0)
    ] * len(cmds)
    assert [dict(d.headers)["dlq-reason"] for d in letters] == [b"retries_exhausted"] * len(cmds)
    assert arrivals(sandbox, instance) == []


async def test_session_actions_go_while_held_sends_fill_the_instance_bound(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], instance: str, unique: Any
) -> None:
    """More held lanes than GATEWAY_ENGINE__MAX_IN_FLIGHT_PER_INSTANCE: a session action of the
    held instance still goes at once (the command that repairs it is never kept out)."""
    sandbox, url = sandbox_url
    settings = gateway_settings(
        kafka_bootstrap,
        url,
        unique("hold-bound"),
        [instance],
        engine=EngineSettings(
            max_in_flight_per_instance=2, circuit_threshold=3, circuit_cooldown_s=1.0
        ),
    )
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)
    sends = [
        command(instance, "sendText", {"chatId": CHATS[i], "message": f"b{i}"}) for i in range(4)
    ]
    async with (
        receiving_and_tracking(settings, sandbox),
        running_gateway(settings, sandbox, create=False) as gw,
    ):
        sandbox.set_session_status(instance, "SCAN_QR_CODE")
        await status_reached(gw.app.sessions, instance, "SCAN_QR_CODE")
        for cmd in sends:
            await gw.publish(cmd, topic=settings.topics.send)
        await held_at_least(gw, len(sends))
        info = await gw.run(command(instance, "getSessionInfo", {}))
        assert info["status"] == "succeeded", info
        assert info["response"]["status"] == "SCAN_QR_CODE"
        started = await gw.run(command(instance, "startSession", {}))
        assert started["status"] == "succeeded", started
        # startSession made the sandbox post STARTING, then WORKING: the sends go.
        results = [await gw.outputs.result(c["id"]) for c in sends]
    assert [r["status"] for r in results] == ["succeeded"] * len(sends)
