"""Chat ids: phone numbers become ``<digits>@c.us``; JIDs pass only where the action allows them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wawp_gateway.wawp.chatid import (
    ANY_CHAT,
    DIRECT,
    GROUP,
    LID,
    NEWSLETTER,
    PERSON,
    STATUS,
    InvalidChatId,
    mask_phone,
    normalize_chat_id,
    normalize_phone,
)

_VALID_JID = re.compile(
    r"[0-9]{7,15}@c\.us|[0-9]{1,32}(-[0-9]{1,20})?@g\.us|[0-9]{1,32}@lid|[0-9]{1,32}@newsletter"
    r"|status@broadcast"
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 7441-429009", "447441429009@c.us"),
        ("447441429009", "447441429009@c.us"),
        ("+447441429009", "447441429009@c.us"),
        ("44 7441 429 009", "447441429009@c.us"),
        ("1-555-123-4567", "15551234567@c.us"),
    ],
)
def test_phone_numbers_are_normalised_to_person_jids(raw: str, expected: str) -> None:
    """Digits with an optional +, spaces and dashes become <digits>@c.us."""
    assert normalize_chat_id(raw) == expected


@pytest.mark.parametrize(
    ("value", "suffix"),
    [
        ("447441429009@c.us", PERSON),
        ("120363012345678901@g.us", GROUP),
        ("447441429009-1600000000@g.us", GROUP),
        ("123456789012345@lid", LID),
        ("120363098765432109@newsletter", NEWSLETTER),
    ],
)
def test_each_suffix_passes_unchanged_where_allowed(value: str, suffix: str) -> None:
    """A well-formed JID is returned as given when its suffix is allowed."""
    assert normalize_chat_id(value, {suffix}) == value
    assert normalize_chat_id(value, ANY_CHAT) == value


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("120363012345678901@g.us", DIRECT),
        ("120363098765432109@newsletter", DIRECT),
        ("447441429009@c.us", {GROUP}),
        ("123456789012345@lid", {NEWSLETTER}),
        ("447441429009@c.us", {NEWSLETTER}),
    ],
)
def test_each_suffix_is_refused_where_not_allowed(value: str, allowed: set[str]) -> None:
    """A JID whose suffix the action does not take is refused."""
    with pytest.raises(InvalidChatId):
        normalize_chat_id(value, allowed)


def test_bare_phone_is_refused_where_persons_are_not_allowed() -> None:
    """A phone number only makes sense where a person's chat is accepted."""
    with pytest.raises(InvalidChatId):
        normalize_chat_id("447441429009", {GROUP})


def test_status_broadcast_passes_only_when_allowed() -> None:
    """status@broadcast is a chat only for actions that read or acknowledge stories."""
    assert normalize_chat_id(STATUS, allow_status=True) == STATUS
    with pytest.raises(InvalidChatId):
        normalize_chat_id(STATUS)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "abc",
        "12345",  # too short for a phone number
        "1234567890123456",  # 16 digits: longer than E.164
        "+",
        "++447441429009",
        "447441429009@c.us ",
        " 447441429009",
        "44744142900a",
        "447441429009@s.whatsapp.net",
        "@c.us",
        "abc@c.us",
        "123@c.us",  # a person's number has at least 7 digits
        "1234567890123456@c.us",
        "@g.us",
        "12-34-56@g.us",
        "x@newsletter",
        "status@broadcasts",
        "447441429009@c.us@c.us",
        "\u0664\u0664\u0667\u0664\u0664\u0661\u0664\u0662\u0669\u0660\u0660\u0669",  # Arabic digits
        "447441429009\n",
    ],
)
def test_malformed_ids_are_refused(value: str) -> None:
    """Anything that is neither a phone number nor a well-formed JID raises InvalidChatId."""
    with pytest.raises(InvalidChatId):
        normalize_chat_id(value)


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("447441429009@s.whatsapp.net", ANY_CHAT),
        ("+44 7441 42900a", ANY_CHAT),
        ("447441429009@c.us", {GROUP}),
        ("4474414290091234567@c.us", ANY_CHAT),
        ("447441429009", {NEWSLETTER}),
    ],
)
def test_error_messages_never_contain_the_value(value: str, allowed: set[str]) -> None:
    """Chat ids hold phone numbers: the message names the problem, never the value or its digits."""
    with pytest.raises(InvalidChatId) as caught:
        normalize_chat_id(value, allowed)
    message = str(caught.value)
    assert value not in message
    assert "7441" not in message


def test_normalize_phone_strips_formatting() -> None:
    """normalize_phone keeps the digits only."""
    assert normalize_phone("+44 7441-429009") == "447441429009"
    with pytest.raises(InvalidChatId):
        normalize_phone("447441429009@c.us")


def test_mask_phone_hides_the_middle_of_long_digit_runs() -> None:
    """Logs keep the country code and the last two digits of a phone number only."""
    assert mask_phone("to 447441429009@c.us") == "to 44********09@c.us"
    assert mask_phone("id 12345") == "id 12345"


_chatty = st.text(alphabet="0123456789 +-@.cusgldnewslterbroadcast", max_size=40)


@given(value=st.text(max_size=60) | _chatty)
def test_any_string_normalises_to_a_valid_jid_or_is_refused(value: str) -> None:
    """Whatever the input, the answer is a well-formed JID or InvalidChatId, nothing else."""
    try:
        result = normalize_chat_id(value, ANY_CHAT, allow_status=True)
    except InvalidChatId as exc:
        message = str(exc)
    else:
        assert _VALID_JID.fullmatch(result), result
        return
    assert not re.search(r"[0-9]{3,}", message), "a message repeats digits"


@given(digits=st.text(alphabet="0123456789", min_size=7, max_size=15), plus=st.booleans())
def test_any_seven_to_fifteen_digit_number_becomes_a_person_jid(digits: str, plus: bool) -> None:
    """Every plausible phone number is accepted and keeps its digits."""
    assert normalize_chat_id(("+" if plus else "") + digits) == digits + PERSON
