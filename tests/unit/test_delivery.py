"""The delivery join on a fake clock: levels only rise, ERROR is final, early acks wait for their
send, timeouts and expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from wawp_gateway.tracker.delivery import Ack, DeliveryJoin, Sent, normalize_message_id
from wawp_gateway.tracker.service import parse_ack, parse_sent, to_record

T0 = 1_700_000_000.0
SHORT = "3EB0A1B2C3D4E5F6"
SERIALIZED = f"true_447911123456@c.us_{SHORT}"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(clock: FakeClock, **kwargs: float) -> DeliveryJoin:
    values = {"ack_timeout_s": 300.0, "window_s": 3600.0, "orphan_s": 600.0, **kwargs}
    return DeliveryJoin(clock=clock, **values)  # type: ignore[arg-type]


def sent(message_id: str = SERIALIZED, at: float = T0) -> Sent:
    return Sent(message_id, "ABC123DEF456", at, command_id="cmd-1", correlation_id="corr-1")


def ack(level: int, at: float = T0 + 1, message_id: str = SERIALIZED) -> Ack:
    return Ack(message_id, level, at)


def levels(deliveries: list) -> list[int]:  # type: ignore[type-arg]
    return [d.ack for d in deliveries]


def test_normalize_message_id() -> None:
    assert normalize_message_id(SERIALIZED) == SHORT
    assert normalize_message_id(f"false_123-456@g.us_{SHORT}") == SHORT
    assert normalize_message_id(SHORT) == SHORT
    assert normalize_message_id("true_nochat") == "true_nochat"


def test_each_higher_level_once_in_order() -> None:
    clock = FakeClock()
    join = make(clock)
    assert join.on_sent(sent()) == []
    out = [d for level in (1, 2, 3) for d in join.on_ack(ack(level, T0 + level))]
    assert levels(out) == [1, 2, 3]
    assert [d.latency_s for d in out] == [1.0, 2.0, 3.0]
    assert out[0].sent.command_id == "cmd-1"
    assert out[0].ack_name == "SERVER"


def test_lower_and_repeated_levels_are_ignored() -> None:
    join = make(FakeClock())
    join.on_sent(sent())
    assert levels(join.on_ack(ack(3))) == [3]
    assert join.on_ack(ack(2)) == []
    assert join.on_ack(ack(1)) == []
    assert join.on_ack(ack(3)) == []
    assert levels(join.on_ack(ack(4))) == [4]


def test_error_is_final_and_always_reported() -> None:
    join = make(FakeClock())
    join.on_sent(sent())
    join.on_ack(ack(3))
    assert levels(join.on_ack(ack(-1))) == [-1]
    assert join.on_ack(ack(4)) == []
    assert join.on_ack(ack(-1)) == []


def test_acks_before_the_send_wait_and_join_in_level_order() -> None:
    clock = FakeClock()
    join = make(clock)
    assert join.on_ack(ack(2, message_id=SHORT)) == []  # GOWS-style short id
    assert join.on_ack(ack(1)) == []
    out = join.on_sent(sent())
    assert levels(out) == [1, 2]
    assert join.on_sent(sent()) == []  # a duplicate record joins nothing again


def test_orphan_acks_expire() -> None:
    clock = FakeClock()
    join = make(clock)
    join.on_ack(ack(1))
    clock.now += 601
    assert join.expire() == []
    assert len(join) == 0
    assert join.on_sent(sent(at=clock.now)) == []


def test_timeout_without_device_reports_last_level_once() -> None:
    clock = FakeClock()
    join = make(clock)
    join.on_sent(sent())
    join.on_ack(ack(1, T0 + 1))
    clock.now = T0 + 299
    assert join.expire() == []
    clock.now = T0 + 300
    (timeout,) = join.expire()
    assert timeout.timeout
    assert timeout.ack == 1
    assert timeout.latency_s is None
    assert join.expire() == []
    assert levels(join.on_ack(ack(2))) == [2]  # a late DEVICE is still reported


def test_timeout_with_no_ack_at_all_is_pending() -> None:
    clock = FakeClock()
    join = make(clock)
    join.on_sent(sent())
    clock.now += 300
    (timeout,) = join.expire()
    assert timeout.ack == 0
    assert timeout.acked_at is None


def test_no_timeout_after_device_or_error() -> None:
    clock = FakeClock()
    join = make(clock)
    join.on_sent(sent())
    join.on_sent(sent("other"))
    join.on_ack(ack(2))
    join.on_ack(ack(-1, message_id="other"))
    clock.now += 1000
    assert join.expire() == []


def test_messages_expire_after_the_window_and_old_sends_are_ignored() -> None:
    clock = FakeClock()
    join = make(clock)
    join.on_sent(sent())
    join.on_ack(ack(2))
    clock.now += 3600
    join.expire()
    assert len(join) == 0
    assert join.on_sent(sent(at=T0)) == []  # history older than the window
    assert len(join) == 0


def test_memory_is_bounded() -> None:
    join = make(FakeClock(), max_messages=3)
    for n in range(10):
        join.on_ack(ack(1, message_id=f"m{n}"))
    assert len(join) == 3


def test_parse_ack_and_sent_and_record() -> None:
    body = {
        "id": "evt_1",
        "timestamp": 1_735_689_600_123,
        "session": "ABC123DEF456",
        "event": "message.ack",
        "payload": {"id": SERIALIZED, "ack": 2, "ackName": "DEVICE"},
    }
    parsed = parse_ack(json.dumps(body).encode(), 5.0)
    assert parsed == Ack(SERIALIZED, 2, 1_735_689_600.123)
    assert parse_ack(json.dumps({**body, "event": "message.any"}).encode(), 5.0) is None
    assert parse_ack(b"not json", 5.0) is None
    assert parse_ack(None, 5.0) is None

    state = {
        "schema": "wawp.state.v1",
        "instance_id": "ABC123DEF456",
        "idempotency_key": "k",
        "command_id": "cmd-1",
        "fingerprint": "0" * 32,
        "status": "succeeded",
        "message_id": SERIALIZED,
        "attempts": 1,
        "first_attempt_at": "2026-01-01T00:00:00Z",
        "correlation_id": "corr-1",
        "action": "sendText",
        "recorded_at": "2026-01-01T00:00:01Z",
    }
    got = parse_sent(json.dumps(state).encode())
    assert got is not None
    assert got.command_id == "cmd-1"
    assert got.correlation_id == "corr-1"
    assert got.sent_at == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert parse_sent(json.dumps({**state, "status": "in_progress"}).encode()) is None
    assert parse_sent(json.dumps({**state, "message_id": None}).encode()) is None
    assert parse_sent(None) is None
    assert parse_sent(b'{"schema":"wawp.state.v1","status":"released","recorded_at":"x"}') is None
    # The command's trace context rides on the record's headers, and only that is kept.
    parent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    traced = parse_sent(json.dumps(state).encode(), [("traceparent", parent), ("other", b"x")])
    assert traced is not None
    assert traced.trace == (("traceparent", parent),)
    assert got.trace == ()

    join = make(FakeClock(got.sent_at))
    join.on_sent(got)
    (delivery,) = join.on_ack(Ack(SERIALIZED, 1, got.sent_at + 2))
    record = json.loads(to_record(delivery).model_dump_json(by_alias=True))
    assert record["schema"] == "wawp.delivery.v1"
    assert record["message_id"] == SERIALIZED
    assert record["ack_name"] == "SERVER"
    assert record["command_id"] == "cmd-1"
    assert record["ack_timeout"] is False


def _ends(deliveries: list) -> list[str]:  # type: ignore[type-arg]
    return [d.ends for d in deliveries if d.ends is not None]


def test_each_send_settles_the_delivery_sli_once() -> None:
    """delivered at the first DEVICE-or-higher ack; READ after it settles nothing more."""
    clock = FakeClock()
    join = make(clock)
    out = join.on_sent(sent())
    out += [d for level in (1, 3, 2, 4) for d in join.on_ack(ack(level, T0 + level))]
    assert _ends(out) == ["delivered"]
    assert [d.ends for d in out if d.ack == 3] == ["delivered"]  # READ before DEVICE counts


def test_a_timeout_settles_the_send_and_a_late_device_ack_does_not_count_again() -> None:
    clock = FakeClock()
    join = make(clock, ack_timeout_s=60.0)
    join.on_sent(sent())
    clock.now = T0 + 61
    timeouts = join.expire()
    late = join.on_ack(ack(2, T0 + 62))
    assert _ends(timeouts) == ["ack_timeout"]
    assert levels(late) == [2]
    assert _ends(late) == []


def test_an_error_ack_first_settles_the_send_as_failed() -> None:
    clock = FakeClock()
    join = make(clock)
    join.on_sent(sent())
    out = join.on_ack(ack(1)) + join.on_ack(ack(-1, T0 + 2))
    assert _ends(out) == ["failed"]
    clock.now = T0 + 400
    assert _ends(join.expire()) == []


def test_acks_that_came_before_the_send_settle_it_when_it_arrives() -> None:
    clock = FakeClock()
    join = make(clock)
    join.on_ack(ack(2))
    assert _ends(join.on_sent(sent())) == ["delivered"]
