"""Params validation: the catalog's examples pass; the rules producers rely on are enforced."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import catalog_rows, example_params, json_values
from wawp_gateway.core.errors import CommandRejected
from wawp_gateway.wawp.catalog import ACTIONS, ActionSpec
from wawp_gateway.wawp.params import MAX_PARAMS_BYTES, validate_params

PHONE = "447441429009"
CHAT = f"{PHONE}@c.us"


def _reject(action: str, params: dict[str, Any]) -> CommandRejected:
    with pytest.raises(CommandRejected) as caught:
        validate_params(ACTIONS[action], params)
    assert caught.value.code == "invalid_params"
    assert caught.value.dlq_reason == "validation"
    return caught.value


def _image(mimetype: str = "image/png", name: str = "a.png") -> dict[str, str]:
    return {"url": "https://example.com/" + name, "filename": name, "mimetype": mimetype}


def _names(action: str) -> set[str]:
    return {param.top_level for param in ACTIONS[action].params}


def _with(action: str, **changes: Any) -> dict[str, Any]:
    params = example_params(action)
    params.update(copy.deepcopy(changes))
    return params


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_catalog_example_params_validate(action: str) -> None:
    """Every action accepts params made of the catalog's own examples."""
    validate_params(ACTIONS[action], example_params(action))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_required_params_alone_validate(action: str) -> None:
    """The required params are enough: nothing optional is secretly required."""
    validate_params(ACTIONS[action], example_params(action, required_only=True))


_WITH_REQUIRED = sorted(
    (action, param["name"].split("[", 1)[0])
    for action in ACTIONS
    for param in catalog_rows()[action]["params"]
    if param["required"] and param["name"] not in ("instance_id", "access_token")
)


@pytest.mark.parametrize(("action", "name"), sorted(set(_WITH_REQUIRED)))
def test_missing_required_param_is_invalid_params(action: str, name: str) -> None:
    """Leaving out any required param rejects the command and names the param."""
    params = example_params(action)
    del params[name]
    assert name in _reject(action, params).message


def test_validation_does_not_change_the_callers_params() -> None:
    """The producer's params mapping is left as it was; normalised values come back."""
    params = {"chatId": "+44 7441-429009", "message": "hi"}
    before = copy.deepcopy(params)
    assert validate_params(ACTIONS["sendText"], params)["chatId"] == CHAT
    assert params == before


def test_unknown_param_is_refused_by_name() -> None:
    """A param the catalog does not list is refused, naming it."""
    assert "colour" in _reject("sendText", _with("sendText", colour="red")).message


def test_unknown_field_inside_a_bracket_param_is_refused() -> None:
    """file[...] only takes the catalog's sub-fields."""
    _reject("sendImage", _with("sendImage", file={**_image(), "size": 10}))


@pytest.mark.parametrize(
    ("action", "name", "value"),
    [
        ("chatsList", "limit", "20"),
        ("chatsList", "limit", 20.0),
        ("chatsList", "limit", True),
        ("star", "star", "true"),
        ("star", "star", 1),
        ("sendText", "message", 42),
        ("sendText", "chatId", None),
        ("sendPoll", "poll", ["a", "b"]),
        ("chatsOverview", "ids", CHAT),
    ],
)
def test_wrong_types_are_refused(action: str, name: str, value: Any) -> None:
    """Types are strict: no string for an integer, no "true" for a boolean."""
    assert name in _reject(action, _with(action, **{name: value})).message


@pytest.mark.parametrize("credential", ["instance_id", "access_token"])
@pytest.mark.parametrize("action", ["sendText", "createSession", "getQrRaw"])
def test_credentials_inside_params_are_refused(action: str, credential: str) -> None:
    """Credentials never travel in commands, and the token is not echoed back."""
    error = _reject(action, _with(action, **{credential: "SECRET-VALUE-123"}))
    assert credential in error.message
    assert "SECRET-VALUE-123" not in error.message


def test_oversized_params_are_refused() -> None:
    """Params above MAX_PARAMS_BYTES are a producer bug."""
    big = "x" * (MAX_PARAMS_BYTES + 1)
    error = _reject("chatsOverview", {"ids": [CHAT], "sortBy": big})
    assert str(MAX_PARAMS_BYTES) in error.message


def test_params_just_below_the_size_limit_are_measured_in_utf8_bytes() -> None:
    """The size is counted in bytes of the JSON, so multi-byte characters count fully."""
    text = "é" * (MAX_PARAMS_BYTES // 2)  # 2 bytes each: just over the limit with the rest
    _reject("labelCreate", {"name": text})


@pytest.mark.parametrize("action", ["sendImage", "statusImage"])
@pytest.mark.parametrize("mimetype", ["image/png", "image/jpeg", "IMAGE/PNG"])
def test_images_accept_png_and_jpeg(action: str, mimetype: str) -> None:
    """sendImage and statusImage take PNG and JPEG."""
    validate_params(ACTIONS[action], _with(action, file=_image(mimetype)))


@pytest.mark.parametrize("action", ["sendImage", "statusImage"])
@pytest.mark.parametrize("mimetype", ["image/gif", "image/webp", "application/pdf", "image/jpg "])
def test_images_refuse_other_types(action: str, mimetype: str) -> None:
    """Other image types are refused before anything is sent."""
    assert "file.mimetype" in _reject(action, _with(action, file=_image(mimetype))).message


def test_send_file_takes_pdf_only() -> None:
    """sendFile sends PDF documents."""
    pdf = _image("application/pdf", "a.pdf")
    validate_params(ACTIONS["sendFile"], _with("sendFile", file=pdf))
    _reject("sendFile", _with("sendFile", file=_image("application/zip", "a.zip")))


@pytest.mark.parametrize(
    ("action", "native", "other"),
    [
        ("sendVoice", "audio/ogg; codecs=opus", "audio/mpeg"),
        ("statusVoice", "audio/ogg", "audio/mp4"),
        ("sendVideo", "video/mp4", "video/quicktime"),
        ("statusVideo", "video/mp4", "video/webm"),
    ],
)
def test_voice_and_video_accept_other_formats_only_with_convert(
    action: str, native: str, other: str
) -> None:
    """OGG/Opus and MP4 always; any audio/* or video/* only when the server converts."""
    spec = ACTIONS[action]
    validate_params(spec, _with(action, file=_image(native), convert=False))
    validate_params(spec, _with(action, file=_image(other), convert=True))
    _reject(action, _with(action, file=_image(other), convert=False))
    family = "image/png"
    _reject(action, _with(action, file=_image(family), convert=True))


def test_media_url_must_be_http() -> None:
    """Wawp downloads media from a public http(s) URL."""
    bad = {**_image(), "url": "file:///etc/passwd"}
    assert "file.url" in _reject("sendImage", _with("sendImage", file=bad)).message


def _poll(options: list[Any], name: str = "Lunch?") -> dict[str, Any]:
    return _with("sendPoll", poll={"name": name, "options": options, "multipleAnswers": False})


@pytest.mark.parametrize("count", [2, 12])
def test_poll_takes_two_to_twelve_options(count: int) -> None:
    """The bounds of WhatsApp's option count are accepted."""
    validate_params(ACTIONS["sendPoll"], _poll([f"option {i}" for i in range(count)]))


@pytest.mark.parametrize("count", [0, 1, 13])
def test_poll_with_too_few_or_many_options_is_refused(count: int) -> None:
    """Fewer than 2 or more than 12 options are refused."""
    assert "poll.options" in _reject("sendPoll", _poll([f"o{i}" for i in range(count)])).message


def test_poll_options_must_be_unique() -> None:
    """Two identical options are refused."""
    assert "unique" in _reject("sendPoll", _poll(["Yes", "Yes"])).message


def test_poll_option_must_be_shorter_than_255_characters() -> None:
    """Each option is < 255 characters."""
    validate_params(ACTIONS["sendPoll"], _poll(["a" * 254, "b"]))
    _reject("sendPoll", _poll(["a" * 255, "b"]))


@pytest.mark.parametrize("option", ["", "  ", 3, None])
def test_poll_options_must_be_non_empty_strings(option: Any) -> None:
    """An empty or non-string option is refused."""
    _reject("sendPoll", _poll(["fine", option]))


def test_text_is_at_most_4096_characters() -> None:
    """WhatsApp's text limit is 4096 characters."""
    validate_params(ACTIONS["sendText"], _with("sendText", message="a" * 4096))
    assert "message" in _reject("sendText", _with("sendText", message="a" * 4097)).message
    _reject("statusText", _with("statusText", text="a" * 4097))


def test_blank_text_is_refused() -> None:
    """A message that is only whitespace is refused."""
    _reject("sendText", _with("sendText", message="   "))


def test_caption_is_at_most_1024_characters() -> None:
    """Captions are limited to 1024 characters."""
    validate_params(ACTIONS["sendImage"], _with("sendImage", caption="c" * 1024))
    assert "caption" in _reject("sendImage", _with("sendImage", caption="c" * 1025)).message


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [(90, 180), (-90, -180), ("38.89", "-77.09"), (0.0, 0), ("0", "0")],
)
def test_locations_in_range_are_accepted_as_numbers_or_strings(
    latitude: Any, longitude: Any
) -> None:
    """Latitude -90..90 and longitude -180..180, given as numbers or numeric strings."""
    values = validate_params(
        ACTIONS["sendLocation"], _with("sendLocation", latitude=latitude, longitude=longitude)
    )
    assert values["latitude"] == str(latitude)


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [
        (90.01, 0),
        (-91, 0),
        (0, 180.5),
        (0, -181),
        ("north", 0),
        ("nan", 0),
        (0, "inf"),
        (True, 0),
        (10**400, 0),  # an int beyond float's range
        ("1e400", 0),
    ],
)
def test_locations_out_of_range_are_refused(latitude: Any, longitude: Any) -> None:
    """Coordinates outside the globe, or not numbers, are refused."""
    _reject("sendLocation", _with("sendLocation", latitude=latitude, longitude=longitude))


@pytest.mark.parametrize(
    "action", sorted(a for a, s in ACTIONS.items() if s.group == "groups" and "{id}" in s.path)
)
def test_group_ids_must_be_group_jids(action: str) -> None:
    """Group actions take @g.us ids only."""
    validate_params(ACTIONS[action], _with(action, id="120363012345678901@g.us"))
    _reject(action, _with(action, id=CHAT))
    _reject(action, _with(action, id="120363098765432109@newsletter"))


@pytest.mark.parametrize(
    "action", sorted(a for a, s in ACTIONS.items() if s.group == "channels" and "{id}" in s.path)
)
def test_channel_ids_must_be_newsletter_jids(action: str) -> None:
    """Channel actions take @newsletter ids only."""
    validate_params(ACTIONS[action], _with(action, id="120363098765432109@newsletter"))
    _reject(action, _with(action, id="120363012345678901@g.us"))


def test_chat_id_phone_numbers_are_normalised() -> None:
    """chatId as a formatted phone number becomes a person JID."""
    values = validate_params(ACTIONS["sendText"], _with("sendText", chatId="+44 7441-429009"))
    assert values["chatId"] == CHAT


def test_status_broadcast_is_a_chat_only_for_story_readers() -> None:
    """status@broadcast may be marked seen, but not sent a text."""
    validate_params(ACTIONS["sendSeen"], {"chatId": "status@broadcast"})
    _reject("sendText", _with("sendText", chatId="status@broadcast"))


@pytest.mark.parametrize(
    "action",
    sorted(a for a, s in ACTIONS.items() if "{id}" in s.path and "participants" in _names(a)),
)
def test_participants_are_normalised(action: str) -> None:
    """Participants as phone numbers or {id} objects become person JIDs; groups are refused."""
    spec = ACTIONS[action]
    values = validate_params(spec, _with(action, participants=["+44 7441-429009"]))
    assert values["participants"] == [CHAT]
    values = validate_params(spec, _with(action, participants=[{"id": PHONE}]))
    assert values["participants"] == [{"id": CHAT}]
    _reject(action, _with(action, participants=["120363012345678901@g.us"]))
    _reject(action, _with(action, participants=[]))
    _reject(action, _with(action, participants=[42]))


def test_group_create_normalises_participants() -> None:
    """groupCreate's participants are normalised like the participant actions'."""
    values = validate_params(
        ACTIONS["groupCreate"], {"name": "Team", "participants": ["447441429009"]}
    )
    assert values["participants"] == [CHAT]


def test_get_qr_raw_has_a_fixed_format() -> None:
    """getQrRaw's format is fixed to raw: "raw" is accepted and dropped, anything else refused."""
    spec = ACTIONS["getQrRaw"]
    assert validate_params(spec, {}) == {}
    assert validate_params(spec, {"format": "raw"}) == {}
    assert "format" in _reject("getQrRaw", {"format": "image"}).message


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("sendText", {"chatId": "4474414290091234567", "message": "hi"}),
        ("sendText", {"chatId": "+44 7441 42900x", "message": "hi"}),
        ("groupGet", {"id": "447441429009@c.us"}),
        ("groupCreate", {"name": "T", "participants": ["447441429009@g.us"]}),
        ("contactCheckExists", {"phone": "447441429009@c.us"}),
        ("requestCode", {"phone_number": "44 7441 429009 99999"}),
        ("contactGet", {"contactId": "447441429009@newsletter"}),
    ],
)
def test_messages_never_echo_a_param_value(action: str, params: dict[str, Any]) -> None:
    """Rejections name the param, never its value: values hold phone numbers."""
    message = _reject(action, params).message
    assert "7441" not in message
    assert "429009" not in message


def test_phone_params_are_normalised_to_digits() -> None:
    """phone and phone_number are digits only."""
    spec = ACTIONS["contactCheckExists"]
    assert validate_params(spec, {"phone": "+1 555-123-4567"})["phone"] == "15551234567"


def test_validated_params_serialise_as_json() -> None:
    """What validation returns goes on the wire as JSON, so it must stay JSON."""
    for action in ACTIONS:
        json.dumps(validate_params(ACTIONS[action], example_params(action)))


_ACTION_NAMES = st.sampled_from(sorted(ACTIONS))


@st.composite
def _action_and_params(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """An action and params made of its own names (plus a stray one) with arbitrary values."""
    action = draw(_ACTION_NAMES)
    names = sorted({p.top_level for p in ACTIONS[action].params}) or ["x"]
    base = example_params(action)
    for name in draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True)):
        base[name] = draw(
            json_values(10)
            | st.integers(min_value=10**300, max_value=10**400)
            | st.sampled_from(["", " ", "447441429009", "+44 7441-429009", "status@broadcast"])
        )
    return action, base


@settings(max_examples=500, deadline=None)
@given(case=_action_and_params())
def test_any_params_are_validated_or_rejected_never_crash(case: tuple[str, dict[str, Any]]) -> None:
    """Whatever values a producer puts under an action's param names: a result or invalid_params."""
    action, params = case
    try:
        values = validate_params(ACTIONS[action], params)
    except CommandRejected as exc:
        code = exc.code
    else:
        json.dumps(values)
        return
    assert code == "invalid_params"


_ODD: dict[str, object] = {
    "string": "  ",
    "integer": -(10**12),
    "boolean": "yes",
    "array": [""],
    "object": {"id": "", "url": "x", "mimetype": "x/y", "filename": "a/b"},
}


@pytest.mark.parametrize("spec", list(ACTIONS.values()), ids=lambda spec: spec.name)
def test_a_rule_left_out_for_an_action_reads_none_of_its_params(spec: ActionSpec) -> None:
    """apply_rules runs, per action, only the rules that read one of its params: a rule left
    out must leave odd values of every param of the action alone (it reads none of them)."""
    from wawp_gateway.wawp import rules

    params = {p.top_level: _ODD[p.type] for p in spec.params}
    for rule in set(rules._RULES) - set(rules._rules_of(spec)):
        given = json.loads(json.dumps(params))
        rule(spec, given)  # raises ParamError if it read one
        assert given == params, rule.__name__
