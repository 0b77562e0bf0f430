"""`wawp-gateway dlq`: parsing dead letters, filters, the replay plan (skips, loop guard,
headers) and token-free renderings."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wawp_gateway.core.contracts import DlqReason
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.dlqtool import (
    DlqRecord,
    Filters,
    Progress,
    ReplayOptions,
    Skip,
    format_plan,
    format_record,
    format_table,
    list_json,
    parse_moment,
    parse_where,
    plan_replay,
    record_json,
    replay_burst,
    select,
)
from wawp_gateway.worker.dlq import build_dead_letter
from wawp_gateway.worker.intake import (
    OVERRIDE_NOT_AFTER_HEADER,
    OVERRIDE_UNKNOWN_HEADER,
    REPLAY_COUNT_HEADER,
    Envelope,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TOKEN = "tok-SECRET-abcdef0123"
_offsets = iter(range(1_000_000))


def command(
    command_id: str = "c1", instance: str = "INST1", action: str = "sendText", **extra: Any
) -> dict[str, Any]:
    return {
        "schema": "wawp.command.v1",
        "id": command_id,
        "instance_id": instance,
        "action": action,
        "params": {"chatId": "447441429009@c.us", "message": "hello"},
        **extra,
    }


def letter(
    value: dict[str, Any] | bytes,
    *,
    reason: DlqReason = DlqReason.PERMANENT,
    replay_count: int = 0,
    at: datetime = NOW - timedelta(minutes=5),
    topic: str = "wawp.send",
    partition: int = 0,
    key: bytes | None = b"INST1",
) -> DlqRecord:
    """A dead letter exactly as the worker writes it, read back."""
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    offset = next(_offsets)
    dead = build_dead_letter(
        Envelope(topic, partition, offset, key, raw),
        key=key,
        reason=reason,
        error_code="undecodable" if reason is DlqReason.UNDECODABLE else "rest_invalid_param",
        error_message="bad",
        attempts=1,
        replay_count=replay_count,
    )
    return DlqRecord.from_parts(
        partition=partition,
        offset=offset,
        timestamp_ms=int(at.timestamp() * 1000),
        key=dead.key,
        value=dead.value,
        headers=dead.headers,
    )


def headers_of(replay: Any) -> dict[str, str]:
    return {name: value.decode() for name, value in replay.headers}


# --- reading a dead letter --------------------------------------------------------------------


def test_a_dead_letter_is_read_with_its_command_and_headers() -> None:
    """Reason, count, original topic and the command's id, instance, action and deadline."""
    record = letter(
        command(not_after="2026-11-24T11:00:00Z"),
        reason=DlqReason.RETRIES_EXHAUSTED,
        replay_count=2,
        topic="orders.send",
    )

    assert record.reason == "retries_exhausted"
    assert record.error_code == "rest_invalid_param"
    assert record.replay_count == 2
    assert record.original_topic == "orders.send"
    assert (record.command_id, record.instance_id, record.action) == ("c1", "INST1", "sendText")
    assert record.not_after == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert record.is_decodable
    assert record.replay_key == b"INST1"


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[1, 2]", json.dumps({"instance_id": "INST1"}).encode(), b'{"id": ""}'],
    ids=["not-json", "not-an-object", "no-id", "empty-id"],
)
def test_records_without_a_usable_id_are_undecodable(value: bytes) -> None:
    """Not JSON, not an object, or no usable id: nothing a replay could address."""
    assert not letter(value, reason=DlqReason.UNDECODABLE).is_decodable


def test_an_unreadable_replay_count_is_zero() -> None:
    """A count header that is not a decimal number counts as never replayed."""
    record = DlqRecord.from_parts(
        partition=0,
        offset=0,
        timestamp_ms=0,
        key=None,
        value=json.dumps(command()).encode(),
        headers=[("dlq-reason", b"permanent"), (REPLAY_COUNT_HEADER, "²".encode())],
    )
    assert record.replay_count == 0


# --- filters ----------------------------------------------------------------------------------


def test_filters_select_by_reason_instance_action_id_and_time() -> None:
    """Each filter narrows; repeated flags and comma lists alike; since inclusive, until not."""
    old = letter(command("a"), at=NOW - timedelta(hours=3))
    auth = letter(command("b", instance="INST2"), reason=DlqReason.AUTH)
    poll = letter(command("c", action="sendPoll"), reason=DlqReason.RETRIES_EXHAUSTED)
    records = [old, auth, poll]

    def ids(**kwargs: Any) -> list[str | None]:
        return [r.command_id for r in select(records, Filters.of(**kwargs))]

    assert ids() == ["a", "b", "c"]
    assert ids(reasons=["auth,retries_exhausted"]) == ["b", "c"]
    assert ids(reasons=["auth", "permanent"]) == ["a", "b"]
    assert ids(instances=["INST2"]) == ["b"]
    assert ids(actions=["sendPoll"]) == ["c"]
    assert ids(command_ids=["a,c"]) == ["a", "c"]
    assert ids(since=NOW - timedelta(hours=1)) == ["b", "c"]
    assert ids(until=NOW - timedelta(hours=1)) == ["a"]
    assert ids(since=old.timestamp, until=auth.timestamp) == ["a"]


def test_an_unknown_reason_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="--reason: unknown nope; one of auth"):
        Filters.of(reasons=["permanent,nope"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        ("15m", NOW - timedelta(minutes=15)),
        ("2h", NOW - timedelta(hours=2)),
        ("1.5d", NOW - timedelta(hours=36)),
        ("1w", NOW - timedelta(days=7)),
        ("2026-11-24T10:00:00Z", datetime(2026, 11, 24, 10, tzinfo=UTC)),
        ("2026-11-24T12:00:00+02:00", datetime(2026, 11, 24, 10, tzinfo=UTC)),
        ("2026-11-24T10:00", datetime(2026, 11, 24, 10, tzinfo=UTC)),
        ("2026-11-24", datetime(2026, 11, 24, tzinfo=UTC)),
    ],
)
def test_moments_are_iso_8601_or_a_span_back_from_now(text: str, expected: datetime) -> None:
    assert parse_moment(text, now=NOW) == expected


def test_a_bad_moment_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--until"):
        parse_moment("yesterday", now=NOW, flag="--until")


def test_where_is_partition_colon_offset() -> None:
    assert parse_where("3:1024") == (3, 1024)
    with pytest.raises(ConfigError):
        parse_where("3-1024")


# --- the replay plan --------------------------------------------------------------------------


def test_a_replay_goes_to_the_original_topic_keyed_by_instance_with_the_next_count() -> None:
    """docs/contract.md: dlq-replay-count = the record's count + 1, key = instance."""
    record = letter(command(), replay_count=1, topic="wawp.send", key=b"other-key")

    plan = plan_replay([record], Filters(), ReplayOptions(), now=NOW)

    (replay,) = plan.replays
    assert replay.topic == "wawp.send"
    assert replay.key == b"INST1"
    assert replay.record.value == record.value
    assert headers_of(replay) == {REPLAY_COUNT_HEADER: "2"}


def test_to_topic_overrides_the_original_topic() -> None:
    plan = plan_replay([letter(command())], Filters(), ReplayOptions(to_topic="elsewhere"), now=NOW)
    assert [r.topic for r in plan.replays] == ["elsewhere"]


def test_a_rejected_command_without_instance_keeps_its_dead_letter_key() -> None:
    raw = {"schema": "wawp.command.v1", "id": "c9", "action": "sendText"}
    plan = plan_replay(
        [letter(raw, reason=DlqReason.VALIDATION, key=b"k")], Filters(), ReplayOptions(), now=NOW
    )
    assert [r.key for r in plan.replays] == [b"k"]


def test_undecodable_letters_are_listed_but_never_replayed() -> None:
    records = [letter(b"garbage", reason=DlqReason.UNDECODABLE), letter(command())]

    plan = plan_replay(records, Filters(), ReplayOptions(), now=NOW)

    assert len(select(records, Filters())) == 2
    assert [r.record.command_id for r in plan.replays] == ["c1"]
    assert plan.skipped == {Skip.UNDECODABLE: 1}


def test_outcome_unknown_replays_only_when_included_and_is_marked() -> None:
    """`gateway-override-unknown: true` only with --include-unknown, only on those letters."""
    unknown = letter(command("u"), reason=DlqReason.OUTCOME_UNKNOWN)
    failed = letter(command("f"))

    default = plan_replay([unknown, failed], Filters(), ReplayOptions(), now=NOW)
    included = plan_replay(
        [unknown, failed], Filters(), ReplayOptions(include_unknown=True), now=NOW
    )

    assert [r.record.command_id for r in default.replays] == ["f"]
    assert default.skipped == {Skip.OUTCOME_UNKNOWN: 1}
    marked = {r.record.command_id: headers_of(r) for r in included.replays}
    assert marked["u"][OVERRIDE_UNKNOWN_HEADER] == "true"
    assert OVERRIDE_UNKNOWN_HEADER not in marked["f"]


def test_expired_and_past_deadline_letters_replay_only_when_the_deadline_is_ignored() -> None:
    """An expired letter, or a failed one whose not_after has passed since, would only expire
    again: --ignore-deadline replays them with `gateway-override-not-after: true`."""
    past = (NOW - timedelta(minutes=1)).isoformat()
    future = (NOW + timedelta(hours=1)).isoformat()
    expired = letter(command("e", not_after=past), reason=DlqReason.EXPIRED)
    overdue = letter(command("o", not_after=past))
    timely = letter(command("t", not_after=future))
    plain = letter(command("p"))
    records = [expired, overdue, timely, plain]

    default = plan_replay(records, Filters(), ReplayOptions(), now=NOW)
    ignoring = plan_replay(records, Filters(), ReplayOptions(ignore_deadline=True), now=NOW)

    assert [r.record.command_id for r in default.replays] == ["t", "p"]
    assert default.skipped == {Skip.DEADLINE: 2}
    overridden = {
        r.record.command_id: headers_of(r).get(OVERRIDE_NOT_AFTER_HEADER) for r in ignoring.replays
    }
    assert overridden == {"e": "true", "o": "true", "t": "true", "p": None}


def test_the_loop_guard_refuses_letters_replayed_max_times() -> None:
    """With --max-replays N, counts 0..N-1 replay (to 1..N), count N is refused."""
    records = [letter(command(f"c{n}"), replay_count=n) for n in range(5)]

    plan = plan_replay(records, Filters(), ReplayOptions(max_replays=3), now=NOW)

    assert [headers_of(r)[REPLAY_COUNT_HEADER] for r in plan.replays] == ["1", "2", "3"]
    assert plan.skipped == {Skip.LOOP_GUARD: 2}


def test_only_the_latest_letter_of_a_command_is_replayed() -> None:
    """A replay that failed again was dead-lettered with a higher count: the older letter would
    only repeat a count the worker already answered."""
    first = letter(command("c1"), replay_count=0)
    again = letter(command("c1"), replay_count=1, reason=DlqReason.RETRIES_EXHAUSTED)

    plan = plan_replay([first, again], Filters(), ReplayOptions(), now=NOW)
    filtered = plan_replay(
        [first, again], Filters.of(reasons=["permanent"]), ReplayOptions(), now=NOW
    )

    assert [headers_of(r)[REPLAY_COUNT_HEADER] for r in plan.replays] == ["2"]
    assert plan.skipped == {Skip.SUPERSEDED: 1}
    assert filtered.replays == ()
    assert filtered.skipped == {Skip.SUPERSEDED: 1}


def test_a_letter_without_original_topic_needs_to_topic() -> None:
    record = DlqRecord.from_parts(
        partition=0,
        offset=0,
        timestamp_ms=0,
        key=b"INST1",
        value=json.dumps(command()).encode(),
        headers=[("dlq-reason", b"permanent")],
    )
    assert plan_replay([record], Filters(), ReplayOptions(), now=NOW).skipped == {Skip.NO_TOPIC: 1}
    assert len(plan_replay([record], Filters(), ReplayOptions(to_topic="t"), now=NOW).replays) == 1


def test_limit_caps_the_replayed_records_and_counts_the_rest() -> None:
    records = [letter(command(f"c{n}")) for n in range(5)]
    plan = plan_replay(records, Filters(), ReplayOptions(limit=2), now=NOW)
    assert [r.record.command_id for r in plan.replays] == ["c0", "c1"]
    assert plan.skipped == {Skip.LIMIT: 3}


def test_plan_counts_match_its_parts() -> None:
    """read = all records; matched = filtered; matched = replayed + every skip."""
    records = [
        *(letter(command(f"p{n}")) for n in range(4)),
        *(letter(command(f"u{n}"), reason=DlqReason.OUTCOME_UNKNOWN) for n in range(3)),
        letter(b"junk", reason=DlqReason.UNDECODABLE),
        letter(command("other", instance="INST2")),
    ]

    plan = plan_replay(records, Filters.of(instances=["INST1"]), ReplayOptions(), now=NOW)
    summary = plan.to_json()

    assert (plan.read, plan.matched) == (9, 7)  # the undecodable one has no instance
    assert summary["replay"] == 4
    assert summary["skipped"]["outcome_unknown"] == 3
    assert summary["by_reason"] == {"permanent": 4}
    assert summary["by_topic"] == {"wawp.send": 4}
    assert summary["replay"] + sum(summary["skipped"].values()) == plan.matched
    text = "\n".join(format_plan(plan, ReplayOptions(), dry_run=True))
    assert "would replay: 4" in text
    assert "outcome_unknown: 3 (outcome_unknown: needs --include-unknown)" in text


def test_the_burst_is_a_tenth_of_a_second_at_least_one() -> None:
    assert replay_burst(2000) == 200
    assert replay_burst(15) == 2
    assert replay_burst(0.5) == 1


# --- renderings -------------------------------------------------------------------------------


def test_ls_prints_a_row_per_record_and_counts_by_reason() -> None:
    records = [letter(command(f"p{n}")) for n in range(3)] + [
        letter(command("a"), reason=DlqReason.AUTH)
    ]
    lines = format_table(10, records, limit=2)

    assert lines[0].split() == [
        "WHERE",
        "DEAD-LETTERED",
        "AT",
        "REASON",
        "CODE",
        "INSTANCE",
        "ACTION",
        "REPLAYS",
        "COMMAND",
        "ID",
    ]
    assert len([line for line in lines if "sendText" in line]) == 2
    assert lines[-2] == "4 of 10 records match; showing 2"
    assert lines[-1] == "by reason: permanent 3, auth 1"
    listed = list_json("wawp.dlq", 10, records)
    assert listed["by_reason"] == {"permanent": 3, "auth": 1}
    assert [r["command_id"] for r in listed["records"]] == ["p0", "p1", "p2", "a"]


def test_show_never_prints_a_token() -> None:
    """Values are redacted when written; show masks again for letters written by anything else."""
    raw = json.dumps(command(params={"access_token": TOKEN})).encode()
    record = DlqRecord.from_parts(
        partition=1,
        offset=7,
        timestamp_ms=0,
        key=b"INST1",
        value=raw,
        headers=[
            ("dlq-reason", b"permanent"),
            ("dlq-error-message", f"call failed: ?access_token={TOKEN}".encode()),
        ],
    )
    garbled = letter(f"access_token={TOKEN}&x".encode(), reason=DlqReason.UNDECODABLE)

    outputs = [
        "\n".join(format_record("wawp.dlq", record)),
        json.dumps(record_json("wawp.dlq", record)),
        "\n".join(format_record("wawp.dlq", garbled)),
        json.dumps(list_json("wawp.dlq", 2, [record, garbled])),
    ]

    for text in outputs:
        assert TOKEN not in text
    assert record_json("wawp.dlq", record)["value"]["params"]["access_token"] == "***"
    assert "wawp.dlq 1:7" in outputs[0]
    assert "dlq-reason         permanent" in outputs[0]


def test_progress_off_a_terminal_is_a_line_every_few_seconds() -> None:
    out = io.StringIO()
    now = [0.0]
    progress = Progress(100, out, clock=lambda: now[0])

    for done in range(1, 101):
        now[0] = done * 0.1
        progress.update(done)
    progress.update(100, final=True)

    lines = out.getvalue().splitlines()
    assert lines[0] == "replayed 1/100 (1%), 10/s"
    assert lines[-1] == "replayed 100/100 (100%), 10/s"
    assert len(lines) == 3  # at 0.1 s, at 5.1 s, and the final one
