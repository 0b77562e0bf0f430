"""decode(): from a raw Kafka record to a command, a rejection (with an id) or undecodable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import command_bytes, json_values
from wawp_gateway.worker.intake import Envelope, OutboundCommand, Rejection, Undecodable, decode

INSTANCE = "ABC123DEF456"


def _command(**changes: Any) -> dict[str, Any]:
    command: dict[str, Any] = {
        "schema": "wawp.command.v1",
        "id": "01JDX3V1Q8",
        "instance_id": INSTANCE,
        "action": "sendText",
        "params": {"chatId": "+44 7441-429009", "message": "Hello"},
    }
    for key, value in changes.items():
        if value is _DROP:
            command.pop(key, None)
        else:
            command[key] = value
    return command


_DROP = object()


def _decode(
    value: bytes | dict[str, Any] | None,
    headers: tuple[tuple[str, bytes], ...] = (),
    known: frozenset[str] = frozenset({INSTANCE}),
) -> OutboundCommand | Rejection | Undecodable:
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    envelope = Envelope("wawp.send", 3, 42, INSTANCE.encode(), raw, headers)
    return decode(envelope, is_known_instance=known.__contains__)


def _rejection(value: dict[str, Any], code: str) -> Rejection:
    result = _decode(value)
    assert isinstance(result, Rejection), result
    assert result.error.code == code
    assert result.command_id == value["id"]
    return result


def test_a_valid_command_decodes_with_normalised_params() -> None:
    """A good command becomes an OutboundCommand; the key defaults to the id."""
    result = _decode(_command(correlation_id="c-9", not_after="2026-11-24T12:00:00Z"))
    assert isinstance(result, OutboundCommand)
    assert result.action == "sendText"
    assert result.params["chatId"] == "447441429009@c.us"
    assert result.idempotency_key == "01JDX3V1Q8"
    assert result.correlation_id == "c-9"
    assert result.not_after is not None
    assert result.not_after.utcoffset() is not None
    assert result.replay_count == 0
    assert not result.override_not_after
    assert not result.override_unknown


@pytest.mark.parametrize(
    "value",
    [b"not json", b"\xff\xfe", b"", b"{", b'{"id": "x"', None],
    ids=["text", "binary", "empty", "truncated", "unterminated", "tombstone"],
)
def test_non_json_is_undecodable(value: bytes | None) -> None:
    """Bytes that are not JSON (or no value at all) are undecodable."""
    assert isinstance(_decode(value), Undecodable)


@pytest.mark.parametrize("value", [b"[]", b'"id"', b"42", b"null", b"true", b'[{"id": "x"}]'])
def test_non_object_json_is_undecodable(value: bytes) -> None:
    """JSON that is not an object is undecodable."""
    assert isinstance(_decode(value), Undecodable)


@pytest.mark.parametrize("command_id", [_DROP, "", "x" * 129, 42, None, ["a"], {"a": 1}, True])
def test_no_usable_id_is_undecodable(command_id: Any) -> None:
    """Missing, empty, too long or non-string ids make the record undecodable."""
    assert isinstance(_decode(_command(id=command_id)), Undecodable)


def test_an_id_of_128_characters_is_usable() -> None:
    """128 characters is the limit, inclusive."""
    assert isinstance(_decode(_command(id="x" * 128)), OutboundCommand)


@pytest.mark.parametrize("schema", [_DROP, "wawp.command.v2", "", None, 1])
def test_missing_or_wrong_schema_is_invalid_command(schema: Any) -> None:
    """Only wawp.command.v1 is accepted; anything else is rejected as invalid_command."""
    rejection = _rejection(_command(schema=schema), "invalid_command")
    assert rejection.error.dlq_reason == "validation"
    assert "schema" in rejection.error.message


def test_unknown_top_level_fields_are_ignored() -> None:
    """Forward compatibility: fields a later schema adds do not break decoding."""
    assert isinstance(_decode(_command(priority="high", trace={"a": 1})), OutboundCommand)


@pytest.mark.parametrize("field", ["not_after", "created_at"])
@pytest.mark.parametrize(
    "value", ["2026-11-24T12:00:00", "2026-11-24 12:00", "tomorrow", 1700000000]
)
def test_times_without_timezone_or_unparsable_are_invalid_command(field: str, value: Any) -> None:
    """not_after and created_at are RFC 3339 with a timezone."""
    rejection = _rejection(_command(**{field: value}), "invalid_command")
    assert field in rejection.error.message


@pytest.mark.parametrize("field", ["not_after", "created_at"])
def test_times_with_an_offset_are_accepted(field: str) -> None:
    """An offset other than Z is a timezone too."""
    assert isinstance(_decode(_command(**{field: "2026-11-24T14:00:00+02:00"})), OutboundCommand)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("instance_id", _DROP),
        ("instance_id", ""),
        ("action", _DROP),
        ("params", ["chatId"]),
        ("idempotency_key", "k" * 256),
        ("correlation_id", 7),
    ],
)
def test_malformed_fields_are_invalid_command(field: str, value: Any) -> None:
    """Fields of the wrong type or size are rejected, naming the field."""
    rejection = _rejection(_command(**{field: value}), "invalid_command")
    assert field in rejection.error.message


def test_unknown_action_is_rejected() -> None:
    """An action the catalog does not have is unknown_action."""
    rejection = _rejection(_command(action="sendHologram"), "unknown_action")
    assert rejection.action == "sendHologram"
    assert rejection.error.dlq_reason == "validation"


def test_excluded_action_is_unknown() -> None:
    """getScreenshot is left out of the catalog, so it is unknown."""
    _rejection(_command(action="getScreenshot", params={}), "unknown_action")


def test_unknown_instance_is_rejected_with_its_own_dlq_reason() -> None:
    """An instance that is not configured is unknown_instance, dead-lettered as such."""
    rejection = _rejection(_command(instance_id="NOPE00000000"), "unknown_instance")
    assert rejection.error.dlq_reason == "unknown_instance"
    assert rejection.instance_id == "NOPE00000000"


def test_bad_params_are_invalid_params() -> None:
    """Params the action does not accept are invalid_params."""
    rejection = _rejection(_command(params={"chatId": "447441429009"}), "invalid_params")
    assert "message" in rejection.error.message
    assert rejection.error.dlq_reason == "validation"


def test_rejections_keep_reply_to_and_correlation_id() -> None:
    """What could be read is kept, so the rejection reaches the producer's reply_to."""
    rejection = _rejection(
        _command(
            action="nope",
            reply_to="orders.wawp-results",
            correlation_id="checkout-9",
            idempotency_key="order-42",
        ),
        "unknown_action",
    )
    assert rejection.reply_to == "orders.wawp-results"
    assert rejection.correlation_id == "checkout-9"
    assert rejection.idempotency_key == "order-42"
    assert rejection.instance_id == INSTANCE


def test_rejection_of_an_invalid_command_still_keeps_what_is_readable() -> None:
    """Even a schema failure keeps reply_to, correlation_id and instance_id."""
    rejection = _rejection(
        _command(schema=_DROP, reply_to="orders.r", correlation_id="c"), "invalid_command"
    )
    assert (rejection.reply_to, rejection.correlation_id) == ("orders.r", "c")
    assert rejection.idempotency_key == "01JDX3V1Q8"


@pytest.mark.parametrize(
    ("raw", "count"),
    [(b"3", 3), (b"0", 0), (b"x", 0), (b"-1", 0), (b"\xb2", 0), ("²".encode(), 0), (b"", 0)],
)
def test_replay_count_header_is_read(raw: bytes, count: int) -> None:
    """dlq-replay-count is a decimal; anything else counts as 0, never an error."""
    headers = (("dlq-replay-count", raw),)
    result = _decode(_command(), headers)
    assert isinstance(result, OutboundCommand)
    assert result.replay_count == count
    assert isinstance(_decode(b"junk", headers), Undecodable)
    assert _decode(b"junk", headers).replay_count == count  # type: ignore[union-attr]


def test_replay_count_is_kept_on_rejections_and_undecodables() -> None:
    """A replayed record that fails again carries its count onwards."""
    headers = (("dlq-replay-count", b"2"),)
    assert _decode(b"junk", headers).replay_count == 2  # type: ignore[union-attr]
    assert _rejection_with(headers).replay_count == 2


def _rejection_with(headers: tuple[tuple[str, bytes], ...]) -> Rejection:
    result = _decode(_command(action="nope"), headers)
    assert isinstance(result, Rejection)
    return result


def test_override_headers_are_read() -> None:
    """gateway-override-not-after / -unknown: true set the overrides; other values do not."""
    result = _decode(
        _command(),
        (("gateway-override-not-after", b"true"), ("gateway-override-unknown", b"true")),
    )
    assert isinstance(result, OutboundCommand)
    assert result.override_not_after
    assert result.override_unknown
    result = _decode(_command(), (("gateway-override-not-after", b"yes"),))
    assert isinstance(result, OutboundCommand)
    assert not result.override_not_after


@pytest.mark.parametrize(
    "value",
    [
        b"1" * 5_000,
        b'{"id": "x", "n": ' + b"9" * 5_000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"id": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["huge-number", "huge-number-in-object", "deep-array", "deep-in-object"],
)
def test_pathological_json_never_raises(value: bytes) -> None:
    """Numbers past Python's int limit and deep nesting are undecodable or rejected, not crashes."""
    assert isinstance(_decode(value), Undecodable | Rejection)


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(constant: bytes) -> None:
    """NaN and Infinity are not JSON: such a record is undecodable, never sent on to Wawp."""
    raw = (
        b'{"schema": "wawp.command.v1", "id": "x", "instance_id": "ABC123DEF456",'
        b' "action": "sessionWebhook", "params": {"webhooks": [{"url": "https://a.example",'
        b' "is_active": ' + constant + b"}]}}"
    )
    assert isinstance(_decode(raw), Undecodable)


@settings(max_examples=400, deadline=None)
@given(value=command_bytes())
def test_any_bytes_decode_to_one_of_three_types(value: bytes) -> None:
    """Whatever a producer sends, decode answers and never raises."""
    assert isinstance(_decode(value), OutboundCommand | Rejection | Undecodable)


@settings(max_examples=300, deadline=None)
@given(params=json_values(), action=st.sampled_from(["sendText", "sendPoll", "groupCreate"]))
def test_any_params_value_is_accepted_or_rejected(params: Any, action: str) -> None:
    """Random JSON as params yields a command or a rejection (with the id), never an exception."""
    result = _decode(_command(action=action, params=params))
    assert isinstance(result, OutboundCommand | Rejection)


@pytest.mark.parametrize("where", ["params", "id", "correlation_id"])
def test_an_unpaired_surrogate_is_undecodable(where: str) -> None:
    """JSON may escape a lone surrogate; no text holds it, so nothing could be sent or logged."""
    value = _command(correlation_id="c")
    if where == "params":
        value["params"]["message"] = "SURROGATE"
    else:
        value[where] = "SURROGATE"
    raw = json.dumps(value).replace("SURROGATE", "\\ud800").encode()
    assert isinstance(_decode(raw), Undecodable)


def test_a_surrogate_pair_is_text() -> None:
    value = _command()
    value["params"]["message"] = "EMOJI"
    raw = json.dumps(value).replace("EMOJI", "\\ud83d\\ude00").encode()
    decoded = _decode(raw)
    assert isinstance(decoded, OutboundCommand)
    assert decoded.params["message"] == "\U0001f600"
