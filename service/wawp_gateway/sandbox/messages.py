"""Message-creating actions and the engine-specific message objects Wawp answers them with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .params import get_param
from .state import STATUS_CHAT, Engine, StoredMessage

__all__ = [
    "MESSAGE_ACTIONS",
    "listed_message",
    "message_body",
    "message_chat",
    "message_object",
    "message_type",
]

# action -> WhatsApp message type (the `type` field of the WEBJS message object)
MESSAGE_ACTIONS: Mapping[str, str] = {
    "sendText": "chat",
    "sendImage": "image",
    "sendFile": "document",
    "sendVoice": "ptt",
    "sendVideo": "video",
    "sendLinkPreview": "chat",
    "sendLocation": "location",
    "sendPoll": "poll_creation",
    "sendContactVcard": "vcard",
    "statusText": "chat",
    "statusImage": "image",
    "statusVoice": "ptt",
    "statusVideo": "video",
}
# The param holding the visible text, in order of preference.
_BODY_PARAMS = ("message", "text", "caption", "title")


def message_chat(action: str, params: Mapping[str, Any]) -> str:
    """Status posts go to status@broadcast; everything else to its chatId."""
    if action.startswith("status"):
        return STATUS_CHAT
    return str(get_param(params, "chatId"))


def message_type(action: str) -> str:
    return MESSAGE_ACTIONS[action]


def message_body(params: Mapping[str, Any]) -> str:
    for name in _BODY_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and value:
            return value
    poll = params.get("poll")
    if isinstance(poll, Mapping) and isinstance(poll.get("name"), str):
        return str(poll["name"])
    return ""


def _webjs_id(message: StoredMessage) -> dict[str, Any]:
    return {
        "fromMe": True,
        "remote": message.chat_id,
        "id": message.short_id,
        "_serialized": message.serialized_id,
    }


def message_object(message: StoredMessage, engine: Engine) -> dict[str, Any]:
    """What a send answers with (201), in the shape of the instance's engine."""
    if engine == "GOWS":
        info = {"ID": message.short_id, "Sender": message.sender, "IsFromMe": True}
        return {"id": message.short_id, "_data": {"Info": info}}
    webjs = {
        "id": _webjs_id(message),
        "ack": message.ack,
        "type": message.type,
        "timestamp": message.timestamp,
        "from": message.sender,
        "to": message.chat_id,
        "body": message.body,
    }
    if engine == "WEBJS_DATA":
        return {"_data": webjs}
    return webjs


def listed_message(message: StoredMessage) -> dict[str, Any]:
    """A message as chat listings return it (always the WEBJS shape, as Wawp's docs show)."""
    return {
        "id": _webjs_id(message),
        "body": message.body,
        "timestamp": message.timestamp,
        "fromMe": True,
        "from": message.sender,
        "to": message.chat_id,
        "type": message.type,
        "ack": message.ack,
    }
