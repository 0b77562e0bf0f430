"""Dead letters: original bytes with tokens redacted, and the dlq-* headers as strings."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings

from strategies import command_bytes
from wawp_gateway.core.contracts import DlqHeaders, DlqReason
from wawp_gateway.worker.dlq import build_dead_letter, redact_tokens
from wawp_gateway.worker.intake import Envelope

TOKEN = "tok-SECRET-abcdef0123"
CLEAN = (
    b'{"schema":"wawp.command.v1", "id":"c1",\n "instance_id":"ABC123DEF456",'
    b' "action":"sendText","params":{"chatId":"447441429009","message":"h\\u00e9"}}'
)
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def test_clean_commands_keep_their_exact_bytes() -> None:
    """A command without a token is dead-lettered byte for byte (spacing, escapes and all)."""
    assert redact_tokens(CLEAN) == (CLEAN, False)


def test_top_level_token_is_redacted() -> None:
    """A token at the top level becomes "***"."""
    value, changed = redact_tokens(json.dumps({"id": "c1", "access_token": TOKEN}).encode())
    assert changed
    assert TOKEN.encode() not in value
    assert json.loads(value) == {"id": "c1", "access_token": "***"}


def test_nested_tokens_in_dicts_and_lists_are_redacted() -> None:
    """Tokens anywhere, however deep, are replaced; everything else is kept."""
    command = {
        "id": "c1",
        "params": {
            "access_token": TOKEN,
            "list": [{"access_token": TOKEN}, [{"x": {"access_token": {"nested": TOKEN}}}]],
            "message": "héllo",
        },
    }
    value, changed = redact_tokens(json.dumps(command).encode())
    assert changed
    assert TOKEN.encode() not in value
    assert json.loads(value) == {
        "id": "c1",
        "params": {
            "access_token": "***",
            "list": [{"access_token": "***"}, [{"x": {"access_token": "***"}}]],
            "message": "héllo",
        },
    }


def test_token_under_an_escaped_key_is_redacted() -> None:
    """JSON may spell the key with escapes; it is still the access_token key."""
    raw = b'{"id":"c1","params":{"access\\u005ftoken":"' + TOKEN.encode() + b'"}}'
    value, changed = redact_tokens(raw)
    assert changed
    assert TOKEN.encode() not in value


@pytest.mark.parametrize(
    "raw",
    [
        b"access_token=" + TOKEN.encode() + b"&instance_id=X",
        b"GET /send?instance_id=X&access_token=" + TOKEN.encode(),
        b'{"access_token": "' + TOKEN.encode() + b'", broken',
        b"access_token: '" + TOKEN.encode() + b"'",
    ],
)
def test_tokens_in_non_json_text_are_redacted(raw: bytes) -> None:
    """Undecodable values are dead-lettered as they came, but not with a token in them."""
    value, changed = redact_tokens(raw)
    assert changed
    assert TOKEN.encode() not in value
    assert b"access_token" in value


def test_token_in_json_with_a_huge_number_is_redacted() -> None:
    """JSON that Python cannot turn into an int is treated as text, not a crash."""
    raw = b'{"access_token": "' + TOKEN.encode() + b'", "n": ' + b"9" * 5_000 + b"}"
    value, changed = redact_tokens(raw)
    assert changed
    assert TOKEN.encode() not in value


@settings(max_examples=300, deadline=None)
@given(value=command_bytes())
def test_redaction_never_raises_and_clean_values_are_unchanged(value: bytes) -> None:
    """Whatever the bytes, redaction answers; without the key they come back as they were."""
    redacted, changed = redact_tokens(value)
    if not changed:
        assert redacted == value


def _headers(**changes: object) -> dict[str, str]:
    fields: dict[str, object] = {
        "reason": DlqReason.RETRIES_EXHAUSTED,
        "error_code": "http_503",
        "error_message": "Wawp answered HTTP 503",
        "original_topic": "wawp.send",
        "original_partition": 7,
        "original_offset": 123456789012,
        "attempts": 5,
    }
    fields.update(changes)
    pairs = DlqHeaders.model_validate(fields).to_kafka()
    assert all(isinstance(v, bytes) for _, v in pairs)
    assert len({k for k, _ in pairs}) == len(pairs), "a header appears twice"
    return {k: v.decode("utf-8") for k, v in pairs}


def test_original_position_is_three_headers_in_decimal() -> None:
    """dlq-original-topic, -partition and -offset are separate headers; ints in decimal."""
    headers = _headers()
    assert headers["dlq-original-topic"] == "wawp.send"
    assert headers["dlq-original-partition"] == "7"
    assert headers["dlq-original-offset"] == "123456789012"
    assert headers["dlq-attempts"] == "5"
    assert headers["dlq-reason"] == "retries_exhausted"
    assert headers["dlq-error-code"] == "http_503"
    assert headers["dlq-error-message"] == "Wawp answered HTTP 503"


def test_replay_count_starts_at_zero() -> None:
    """A first dead letter has dlq-replay-count "0"."""
    assert _headers()["dlq-replay-count"] == "0"
    assert _headers(replay_count=3)["dlq-replay-count"] == "3"


def test_times_are_rfc3339_utc_with_z() -> None:
    """Attempt times are RFC 3339 in UTC, ending in Z, whatever zone they were taken in."""
    plus_two = timezone(timedelta(hours=2))
    headers = _headers(
        first_attempt_at=datetime(2026, 11, 24, 14, 0, 0, tzinfo=plus_two),
        last_attempt_at=datetime(2026, 11, 24, 12, 0, 5, 250000, tzinfo=UTC),
    )
    assert headers["dlq-first-attempt-at"] == "2026-11-24T12:00:00Z"
    assert RFC3339_UTC.fullmatch(headers["dlq-last-attempt-at"])
    assert headers["dlq-last-attempt-at"].startswith("2026-11-24T12:00:05")


def test_times_are_absent_when_no_call_was_made() -> None:
    """A command that never reached Wawp has no attempt times."""
    headers = _headers(attempts=0)
    assert "dlq-first-attempt-at" not in headers
    assert "dlq-last-attempt-at" not in headers


def test_redacted_header_only_when_something_was_redacted() -> None:
    """dlq-redacted: true marks a value that is not the original bytes."""
    assert _headers(redacted=True)["dlq-redacted"] == "true"
    assert "dlq-redacted" not in _headers()


def test_non_ascii_error_messages_are_utf8() -> None:
    """Header values are UTF-8 strings."""
    assert _headers(error_message="échec ✓")["dlq-error-message"] == "échec ✓"


def test_build_dead_letter_keeps_bytes_and_adds_headers() -> None:
    """The DLQ record: the given key, original bytes (redacted) and the headers."""
    raw = json.dumps({"id": "c1", "params": {"access_token": TOKEN}}).encode()
    envelope = Envelope("wawp.command", 2, 99, b"ABC123DEF456", raw)
    letter = build_dead_letter(
        envelope,
        key=b"ABC123DEF456",
        reason=DlqReason.VALIDATION,
        error_code="invalid_params",
        error_message="params must not contain access_token",
        attempts=0,
        replay_count=1,
    )
    headers = {k: v.decode() for k, v in letter.headers}
    assert letter.key == b"ABC123DEF456"
    assert TOKEN.encode() not in letter.value
    assert headers["dlq-redacted"] == "true"
    assert headers["dlq-original-topic"] == "wawp.command"
    assert headers["dlq-original-partition"] == "2"
    assert headers["dlq-original-offset"] == "99"
    assert headers["dlq-replay-count"] == "1"
    assert headers["dlq-reason"] == "validation"


def test_build_dead_letter_of_undecodable_bytes_keeps_them() -> None:
    """Bytes that are not a command go to the DLQ as they came."""
    envelope = Envelope("wawp.send", 0, 5, None, b"\xff\x00 not json")
    letter = build_dead_letter(
        envelope,
        key=None,
        reason=DlqReason.UNDECODABLE,
        error_code="undecodable",
        error_message="the value is not JSON",
        attempts=0,
        replay_count=0,
    )
    assert letter.value == b"\xff\x00 not json"
    assert letter.key is None
    assert dict(letter.headers)["dlq-error-code"] == b"undecodable"
