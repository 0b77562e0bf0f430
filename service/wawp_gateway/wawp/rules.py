"""Hand-written param rules: what a user expects to be checked before anything is sent.

Each rule takes the typed, validated params of one action, normalises values in place and raises
``ParamError`` naming the param (never its value: values hold phone numbers and texts).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any

from wawp_gateway.wawp.catalog import ActionSpec
from wawp_gateway.wawp.chatid import (
    ANY_CHAT,
    DIRECT,
    GROUP,
    NEWSLETTER,
    PERSON,
    InvalidChatId,
    normalize_chat_id,
    normalize_phone,
)

__all__ = ["ParamError", "apply_rules"]

Params = dict[str, Any]
Rule = Callable[[ActionSpec, Params], None]

TEXT_MAX = 4096  # WhatsApp's limit for a text message
CAPTION_MAX = 1024
POLL_OPTIONS_MIN, POLL_OPTIONS_MAX, POLL_OPTION_MAX_CHARS = 2, 12, 254
URL_MAX = 2048

IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})
_MEDIA: Mapping[str, tuple[frozenset[str], str | None]] = MappingProxyType(
    {
        # action: (accepted mimetypes, family accepted when convert=true)
        "sendImage": (IMAGE_TYPES, None),
        "statusImage": (IMAGE_TYPES, None),
        "setProfilePicture": (IMAGE_TYPES, None),
        "groupPictureSet": (IMAGE_TYPES, None),
        "channelsCreate": (IMAGE_TYPES, None),
        "sendFile": (frozenset({"application/pdf"}), None),
        "sendVoice": (frozenset({"audio/ogg", "audio/ogg; codecs=opus"}), "audio/"),
        "statusVoice": (frozenset({"audio/ogg", "audio/ogg; codecs=opus"}), "audio/"),
        "sendVideo": (frozenset({"video/mp4"}), "video/"),
        "statusVideo": (frozenset({"video/mp4"}), "video/"),
    }
)
# Where a chat id may be a status (reading or acknowledging stories).
_STATUS_READERS = frozenset({"sendSeen", "chatMessages", "chatMessageGet", "chatMessagesRead"})
_PRESENCE = frozenset({"online", "offline", "typing", "recording", "paused"})
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_HTTP_URL = re.compile(r"https?://[^\s/?#]+[^\s]*")


class ParamError(ValueError):
    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param}: {problem}")


def _chat(param: str, value: str, allowed: Collection[str], *, status: bool = False) -> str:
    try:
        return normalize_chat_id(value, allowed, allow_status=status)
    except InvalidChatId as exc:
        raise ParamError(param, str(exc)) from None


def _chat_ids(spec: ActionSpec, p: Params) -> None:
    if isinstance(p.get("chatId"), str):
        allowed = ANY_CHAT
        if spec.group == "presence":
            allowed = frozenset({PERSON, GROUP, "@lid"})
        p["chatId"] = _chat("chatId", p["chatId"], allowed, status=spec.name in _STATUS_READERS)
    for name in ("contactId", "participant", "from"):
        if isinstance(p.get(name), str):
            p[name] = _chat(name, p[name], DIRECT)
    if isinstance(p.get("id"), str):
        if spec.group == "groups":
            p["id"] = _chat("id", p["id"], {GROUP})
        elif spec.group == "channels":
            p["id"] = _chat("id", p["id"], {NEWSLETTER})
    for name, allowed in (("participants", DIRECT), ("ids", ANY_CHAT), ("contacts", DIRECT)):
        items = p.get(name)
        if name == "contacts" and spec.name == "sendContactVcard":
            continue
        if isinstance(items, list):
            if name == "participants" and not items:
                raise ParamError(name, "at least one participant is required")
            p[name] = [_chat_item(f"{name}[{i}]", v, allowed) for i, v in enumerate(items)]
    for name in ("phone", "phone_number"):
        if isinstance(p.get(name), str):
            try:
                p[name] = normalize_phone(p[name])
            except InvalidChatId as exc:
                raise ParamError(name, str(exc)) from None


def _chat_item(param: str, value: Any, allowed: Collection[str]) -> Any:
    """A list item is a chat id, or (WAHA's participant shape) an object with an ``id``."""
    if isinstance(value, str):
        return _chat(param, value, allowed)
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return {**value, "id": _chat(f"{param}.id", value["id"], allowed)}
    raise ParamError(param, "must be a chat id or an object with an id")


def _url(param: str, value: Any) -> None:
    if not isinstance(value, str) or len(value) > URL_MAX or not _HTTP_URL.fullmatch(value):
        raise ParamError(param, f"must be an http(s) URL of at most {URL_MAX} characters")


def _media(spec: ActionSpec, p: Params) -> None:
    rule = _MEDIA.get(spec.name)
    key = "picture" if spec.name == "channelsCreate" else "file"
    media = p.get(key)
    if rule is None or not isinstance(media, dict):
        return
    accepted, convertible = rule
    for field in ("url", "mimetype", "filename"):
        if spec.name in ("groupPictureSet", "channelsCreate") and field not in media:
            raise ParamError(f"{key}.{field}", "is required")
    if "url" in media:
        _url(f"{key}.url", media["url"])
    mimetype = media.get("mimetype")
    if isinstance(mimetype, str):
        normal = mimetype.strip().lower()
        converting = convertible is not None and p.get("convert") is True
        if normal not in accepted and not (converting and normal.startswith(convertible or "")):
            hint = f" (or any {convertible}* with convert=true)" if convertible else ""
            raise ParamError(
                f"{key}.mimetype", f"must be one of {', '.join(sorted(accepted))}{hint}"
            )
    filename = media.get("filename")
    if isinstance(filename, str) and (not filename.strip() or "/" in filename):
        raise ParamError(f"{key}.filename", "must be a plain, non-empty file name")


def _texts(spec: ActionSpec, p: Params) -> None:
    for name, limit in (("message", TEXT_MAX), ("text", TEXT_MAX), ("caption", CAPTION_MAX)):
        value = p.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise ParamError(name, f"is longer than {limit} characters")
    if spec.creates_message:
        for name in ("message", "text"):
            if isinstance(p.get(name), str) and not p[name].strip():
                raise ParamError(name, "must not be empty")
    for name in ("url", "thumbnail"):
        if name in p and p[name] is not None:
            _url(name, p[name])


def _poll(spec: ActionSpec, p: Params) -> None:
    poll = p.get("poll")
    if spec.name != "sendPoll" or not isinstance(poll, dict):
        return
    unknown = set(poll) - {"name", "options", "multipleAnswers"}
    if unknown:
        raise ParamError("poll", f"unknown field(s) {', '.join(sorted(unknown))}")
    name = poll.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ParamError("poll.name", "must be a non-empty string of at most 255 characters")
    options = poll.get("options")
    if not isinstance(options, list) or not (POLL_OPTIONS_MIN <= len(options) <= POLL_OPTIONS_MAX):
        raise ParamError("poll.options", f"must be {POLL_OPTIONS_MIN}-{POLL_OPTIONS_MAX} options")
    for i, option in enumerate(options):
        if not isinstance(option, str) or not option.strip():
            raise ParamError(f"poll.options[{i}]", "must be a non-empty string")
        if len(option) > POLL_OPTION_MAX_CHARS:
            raise ParamError(f"poll.options[{i}]", "must be shorter than 255 characters")
    if len(set(options)) != len(options):
        raise ParamError("poll.options", "must be unique")
    if "multipleAnswers" in poll and not isinstance(poll["multipleAnswers"], bool):
        raise ParamError("poll.multipleAnswers", "must be a boolean")


def _vcards(spec: ActionSpec, p: Params) -> None:
    contacts = p.get("contacts")
    if spec.name != "sendContactVcard" or not isinstance(contacts, list):
        return
    if not 1 <= len(contacts) <= 50:
        raise ParamError("contacts", "must hold 1-50 contacts")
    for i, contact in enumerate(contacts):
        ok = isinstance(contact, dict) and (
            isinstance(contact.get("vcard"), str)
            or (isinstance(contact.get("fullName"), str) and "phoneNumber" in contact)
        )
        if not ok:
            raise ParamError(f"contacts[{i}]", "needs fullName and phoneNumber, or a vcard")


def _numbers(spec: ActionSpec, p: Params) -> None:
    for name, low, high in (("latitude", -90.0, 90.0), ("longitude", -180.0, 180.0)):
        if name in p and p[name] is not None:
            try:
                number = float(p[name])
            except (ValueError, OverflowError):  # OverflowError: an int beyond float's range
                raise ParamError(name, "must be a number") from None
            if not low <= number <= high:
                raise ParamError(name, f"must be between {low:g} and {high:g}")
            p[name] = str(p[name])
    for name, low, high in (
        ("limit", 1, 10_000),
        ("offset", 0, 10**9),
        ("font", 0, 5),
        ("color", 0, 19),
        ("duration", 1, 30 * 86_400),
        ("messages", 1, 10_000),
        ("days", 1, 3_650),
    ):
        value = p.get(name)
        if isinstance(value, int) and not low <= value <= high:
            raise ParamError(name, f"must be between {low} and {high}")
    for name in ("backgroundColor", "colorHex"):
        value = p.get(name)
        if isinstance(value, str) and not _HEX_COLOR.fullmatch(value):
            raise ParamError(name, "must be a #RRGGBB colour")
    presence = p.get("presence")
    if spec.group == "presence" and isinstance(presence, str) and presence not in _PRESENCE:
        raise ParamError("presence", f"must be one of {', '.join(sorted(_PRESENCE))}")


def _fixed(spec: ActionSpec, p: Params) -> None:
    for name, value in spec.fixed_query:
        if name in p and p[name] not in (None, value):
            raise ParamError(name, f"is fixed to {value!r} for {spec.name}")
        p.pop(name, None)


def _not_blank(spec: ActionSpec, p: Params) -> None:
    for param in spec.params:
        if param.required and param.type == "string" and param.subkey is None:
            value = p.get(param.name)
            if isinstance(value, str) and not value.strip():
                raise ParamError(param.name, "must not be empty")


_RULES: tuple[Rule, ...] = (_fixed, _not_blank, _chat_ids, _media, _texts, _poll, _vcards, _numbers)
# The top-level params each rule reads (None: it decides from the action). The params model
# refuses unknown params, so a rule none of whose params the action has cannot apply to it.
_READS: Mapping[Rule, frozenset[str] | None] = MappingProxyType(
    {
        _fixed: None,
        _not_blank: None,
        _chat_ids: frozenset(
            {"chatId", "contactId", "participant", "from", "id", "participants", "ids"}
            | {"contacts", "phone", "phone_number"}
        ),
        _media: None,
        _texts: frozenset({"message", "text", "caption", "url", "thumbnail"}),
        _poll: frozenset({"poll"}),
        _vcards: frozenset({"contacts"}),
        _numbers: frozenset(
            {"latitude", "longitude", "limit", "offset", "font", "color", "duration"}
            | {"messages", "days", "backgroundColor", "colorHex", "presence"}
        ),
    }
)


@functools.cache
def _rules_of(spec: ActionSpec) -> tuple[Rule, ...]:
    """The rules that can apply to ``spec``'s params, in order (checked per call: a few us)."""
    names = {param.top_level for param in spec.params}
    return tuple(
        rule for rule in _RULES if (reads := _READS[rule]) is None or not reads.isdisjoint(names)
    )


def apply_rules(spec: ActionSpec, params: Params) -> None:
    for rule in _rules_of(spec):
        rule(spec, params)
