"""WhatsApp chat ids (JIDs): normalisation of phone numbers and the suffixes an action allows."""

from __future__ import annotations

import re
from collections.abc import Collection

__all__ = [
    "ANY_CHAT",
    "DIRECT",
    "GROUP",
    "NEWSLETTER",
    "PERSON",
    "STATUS",
    "InvalidChatId",
    "mask_phone",
    "normalize_chat_id",
    "normalize_phone",
]

PERSON = "@c.us"
GROUP = "@g.us"
LID = "@lid"
NEWSLETTER = "@newsletter"
STATUS = "status@broadcast"

ANY_CHAT: frozenset[str] = frozenset({PERSON, GROUP, LID, NEWSLETTER})
DIRECT: frozenset[str] = frozenset({PERSON, LID})

# E.164 numbers have at most 15 digits; WhatsApp numbers at least 7 in practice.
_PHONE = re.compile(r"\+?[0-9][0-9 \-]{5,22}")
_DIGITS = re.compile(r"[0-9]{7,15}")
_JID = {
    PERSON: re.compile(r"[0-9]{7,15}"),
    LID: re.compile(r"[0-9]{1,32}"),
    # Old group ids are "<creator>-<timestamp>", new ones a long number.
    GROUP: re.compile(r"[0-9]{1,32}(-[0-9]{1,20})?"),
    NEWSLETTER: re.compile(r"[0-9]{1,32}"),
}


class InvalidChatId(ValueError):
    """The value is not a chat id this action accepts. The message never repeats the value."""


def normalize_phone(value: str) -> str:
    """``+44 7441-429009`` -> ``447441429009``; raise InvalidChatId for anything else."""
    if not _PHONE.fullmatch(value):
        raise InvalidChatId("expected a phone number: digits with an optional leading +")
    digits = value.lstrip("+").replace(" ", "").replace("-", "")
    if not _DIGITS.fullmatch(digits):
        raise InvalidChatId("a phone number has 7 to 15 digits")
    return digits


def normalize_chat_id(
    value: str, allowed: Collection[str] = ANY_CHAT, *, allow_status: bool = False
) -> str:
    """Bare phone numbers become ``<digits>@c.us``; JIDs pass as given where ``allowed``."""
    if value == STATUS:
        if allow_status:
            return value
        raise InvalidChatId("status@broadcast is not accepted by this action")
    for suffix, body in _JID.items():
        if value.endswith(suffix):
            if suffix not in allowed:
                raise InvalidChatId(f"a {suffix} id is not accepted here")
            if not body.fullmatch(value[: -len(suffix)]):
                raise InvalidChatId(f"malformed {suffix} id")
            return value
    if PERSON not in allowed:
        raise InvalidChatId(f"expected an id ending in one of {', '.join(sorted(allowed))}")
    try:
        return normalize_phone(value) + PERSON
    except InvalidChatId:
        raise InvalidChatId(
            "expected <digits>@c.us, @g.us, @lid, @newsletter or a phone number"
        ) from None


def mask_phone(text: str) -> str:
    """Keep the first and last two digits of every phone-like run: logs never hold numbers."""
    return re.sub(
        r"\d{7,}", lambda m: m.group()[:2] + "*" * (len(m.group()) - 4) + m.group()[-2:], text
    )
