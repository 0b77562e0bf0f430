"""State records on the wire: what the worker writes is a valid ``StateRecord``, and a restore
reads back exactly what was written."""

from __future__ import annotations

import json

import pytest

from wawp_gateway.core.contracts import StateRecord, StateStatus
from wawp_gateway.worker.state.entries import StateEvent
from wawp_gateway.worker.state.statelog import _released, encode_event, parse_record

NOW = 1_790_000_000.25


def _event(**changes: object) -> StateEvent:
    fields: dict[str, object] = {
        "instance_id": "ABC123",
        "key": "order-42",
        "status": StateStatus.SUCCEEDED,
        "command_id": "cmd-1",
        "replay_count": 2,
        "fingerprint": "f" * 32,
        "recorded_at": NOW,
        "attempts": 3,
        "message_id": "true_447441429009@c.us_3EB0",
        "error": None,
        "first_attempt_at": NOW - 5,
    }
    fields.update(changes)
    return StateEvent(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [s for s in StateStatus if s is not StateStatus.RELEASED])
def test_written_record_is_a_state_record_and_reads_back(status: StateStatus) -> None:
    event = _event(status=status, error=("http_500", "boom", False))
    value = encode_event(event, correlation_id="checkout-9", action="sendText")
    record = StateRecord.model_validate_json(value)
    assert record.status is status
    assert record.instance_id == "ABC123"
    assert record.idempotency_key == "order-42"
    assert record.attempts == 3
    assert record.correlation_id == "checkout-9"
    assert parse_record(value) == event


def test_released_record_is_valid_and_read_as_the_partition_status() -> None:
    value = _released(NOW)
    assert StateRecord.model_validate_json(value).status is StateStatus.RELEASED
    assert parse_record(value) is StateStatus.RELEASED


@pytest.mark.parametrize(
    "value",
    [
        None,  # a marker
        b"not json",
        b"[]",
        json.dumps({"status": "nonsense", "recorded_at": "2026-01-01T00:00:00Z"}).encode(),
        json.dumps({"status": "succeeded", "recorded_at": "2026-01-01T00:00:00Z"}).encode(),
        json.dumps({"status": "succeeded", "recorded_at": "yesterday"}).encode(),
    ],
)
def test_anything_else_is_skipped(value: bytes | None) -> None:
    assert parse_record(value) is None


@pytest.mark.parametrize(
    "change",
    [
        {"fingerprint": "not hex at all, but 32 chars long"},
        {"fingerprint": "abc"},
        {"replay_count": "1"},
        {"replay_count": -1},
        {"attempts": 1.5},
        {"command_id": 7},
        {"message_id": ["x"]},
        {"error": {"code": 1, "message": "m", "retryable": False}},
        {"error": "boom"},
        {"instance_id": None},
    ],
)
def test_a_garbled_record_is_skipped_not_a_crash(change: dict[str, object]) -> None:
    raw = json.loads(encode_event(_event(), correlation_id=None, action="sendText"))
    raw.update(change)
    assert parse_record(json.dumps(raw).encode()) is None


def test_a_record_survives_the_store_packing() -> None:
    """What the store keeps of a record reads back as it was written."""
    from wawp_gateway.worker.state.idempotency import PartitionState

    for event in (
        _event(),
        _event(key="cmd-1", error=("http_500", "Wawp said ✗", True), message_id=None),
        _event(first_attempt_at=None, replay_count=2**70),
    ):
        state = PartitionState(retention_s=3600)
        state.apply(event, NOW)
        entry = state.get(event.instance_id, event.key, NOW)
        assert entry is not None
        assert (
            entry.status,
            entry.command_id,
            entry.message_id,
            entry.error,
            entry.first_attempt_at,
            entry.attempts,
            entry.fingerprint,
            entry.recorded_at,
        ) == (
            event.status,
            event.command_id,
            event.message_id,
            event.error,
            event.first_attempt_at,
            event.attempts,
            event.fingerprint,
            event.recorded_at,
        )
        assert entry.replay_count == min(event.replay_count, 2**64 - 1)
