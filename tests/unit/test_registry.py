"""InstanceRegistry: the instances file as the starting set, topic records over it, removal by
tombstone or ``enabled: false``, read-your-writes through ``confirm``, tokens kept secret."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from wawp_gateway.core.contracts import InstanceRecord
from wawp_gateway.core.instances import InstanceConfig, InstancesConfig, RateLimitConfig
from wawp_gateway.core.registry import InstanceRegistry

DEFAULT = SecretStr("default-token")
FILE = InstancesConfig(
    defaults=RateLimitConfig(rate_per_minute=60, burst=5),
    instances={
        "FILE1": InstanceConfig(rate_per_minute=30),
        "FILE2": InstanceConfig(access_token=SecretStr("file-token")),
    },
)


def _record(instance_id: str, **fields: Any) -> bytes:
    body = {"schema": "wawp.instance.v1", "instance_id": instance_id, **fields}
    body.setdefault("updated_at", "2026-12-07T10:00:00Z")
    return json.dumps(body).encode()


def _registry(**kwargs: Any) -> InstanceRegistry:
    return InstanceRegistry(FILE, default_token=DEFAULT, **kwargs)


def test_the_file_is_the_starting_set() -> None:
    registry = _registry()
    assert registry.is_known("FILE1")
    assert not registry.is_known("NEW")
    assert registry.limits_for("FILE1") == (30, 5)
    assert registry.token_for("FILE1") == DEFAULT
    assert registry.token_for("FILE2") == SecretStr("file-token")
    assert registry.token_for("NEW") is None


def test_a_record_adds_an_instance_with_its_limits_and_token() -> None:
    registry = _registry()
    registry.apply("NEW", _record("NEW", rate_per_minute=12, burst=2, access_token="own"))
    assert registry.is_known("NEW")
    assert registry.limits_for("NEW") == (12, 2)
    token = registry.token_for("NEW")
    assert token is not None
    assert token.get_secret_value() == "own"


def test_a_record_overrides_the_files_entry_and_fills_gaps_from_defaults() -> None:
    registry = _registry()
    registry.apply("FILE1", _record("FILE1", burst=9))
    entry = registry.entry("FILE1")
    assert entry is not None
    assert (entry.rate_per_minute, entry.burst, entry.source) == (60, 9, "topic")


@pytest.mark.parametrize("removal", [None, _record("FILE1", enabled=False)])
def test_a_tombstone_or_disabled_record_removes_even_a_file_instance(removal: Any) -> None:
    registry = _registry()
    registry.apply("FILE1", removal)
    assert not registry.is_known("FILE1")
    assert registry.token_for("FILE1") is None


def test_removal_also_beats_allowing_unlisted_instances() -> None:
    registry = _registry(allow_unlisted=True)
    assert registry.is_known("ANY")
    registry.apply("ANY", None)
    assert not registry.is_known("ANY")
    registry.apply("ANY", _record("ANY"))
    assert registry.is_known("ANY")


def test_listeners_hear_of_changed_limits_and_removals_only() -> None:
    registry = _registry()
    heard: list[str] = []
    registry.on_change(heard.append)
    registry.apply("NEW", _record("NEW", rate_per_minute=10))
    registry.apply("NEW", _record("NEW", rate_per_minute=10))  # same limits: nothing to retune
    registry.apply("NEW", _record("NEW", rate_per_minute=20))
    registry.apply("NEW", None)
    assert heard == ["NEW", "NEW", "NEW"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("BAD", b"not json"),
        ("BAD", _record("BAD", rate_per_minute=-1)),
        ("BAD", _record("OTHER")),  # the key must be the record's instance
    ],
)
def test_an_unusable_record_is_skipped_with_a_warning(key: str, value: bytes) -> None:
    registry = _registry()
    with capture_logs() as logs:
        registry.apply(key, value)
    assert not registry.is_known(key)
    assert [entry["event"] for entry in logs] == ["instance.record_skipped"]


def test_no_token_leaves_memory_by_a_log_a_repr_or_plain_json() -> None:
    registry = _registry()
    with capture_logs() as logs:
        registry.apply("NEW", _record("NEW", access_token="s3cret-value"))
    record = InstanceRecord.model_validate_json(_record("NEW", access_token="s3cret-value"))
    shown = repr(logs) + repr(registry.entry("NEW")) + repr(record) + record.model_dump_json()
    assert "s3cret-value" not in shown
    assert b"s3cret-value" in record.to_kafka()  # the topic is where it lives


def test_entries_list_both_sources_sorted() -> None:
    registry = _registry()
    registry.apply("AAA", _record("AAA"))
    registry.apply("FILE2", _record("FILE2", enabled=False))
    listed = [(e.instance_id, e.source, e.enabled) for e in registry.entries()]
    assert listed == [("AAA", "topic", True), ("FILE1", "file", True), ("FILE2", "topic", False)]


async def test_confirm_catches_up_before_it_says_unknown() -> None:
    """Read-your-writes: an instance unknown so far is looked for again after a catch-up; one
    catch-up begun after a command was received answers for it (and for every command
    received before it)."""
    clock = [10.0]
    registry = InstanceRegistry(FILE, default_token=DEFAULT, now=lambda: clock[0])
    catch_ups = 0

    async def catch_up() -> None:
        nonlocal catch_ups
        catch_ups += 1
        registry.apply("LATE", _record("LATE"))  # what the topic's end held
        clock[0] += 1.0

    assert registry.admits("LATE") is False  # not followed: decided at once
    registry.follow_with(catch_up)
    assert registry.admits("LATE") is True
    assert await registry.confirm("FILE1", received_at=9.0) is True
    assert catch_ups == 0  # a known instance costs nothing
    assert await registry.confirm("LATE", received_at=9.5) is True
    assert catch_ups == 1
    # Received before that catch-up began (at 10): decided without another one.
    assert await registry.confirm("NEVER", received_at=9.9) is False
    assert catch_ups == 1
    # Received after it began: the registry is read to its end again.
    assert await registry.confirm("NEVER", received_at=10.5) is False
    assert catch_ups == 2


def test_a_session_record_round_trips_and_knows_only_wawps_statuses() -> None:
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from wawp_gateway.core.contracts import SessionRecord, SessionStatus

    record = SessionRecord(
        instance_id="ABC", status=SessionStatus.STOPPED, at=datetime.now(UTC), event_id="evt_1"
    )
    body = json.loads(record.to_bytes())
    assert (body["schema"], body["status"]) == ("wawp.session.v1", "STOPPED")
    assert SessionRecord.model_validate_json(record.to_bytes()) == record
    with pytest.raises(ValidationError):
        SessionRecord.model_validate({**body, "status": "SLEEPING"})
