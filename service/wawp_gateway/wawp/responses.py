"""Reading Wawp's answers: message ids from every engine shape, error codes, the quota text.

Pure functions over a decoded body; the client decides what an answer means.
"""

from __future__ import annotations

import json
from typing import Any

from wawp_gateway.core.jsoncodec import loads
from wawp_gateway.core.values import immutable

__all__ = [
    "QUOTA_TEXT_MARKER",
    "WawpReply",
    "decode_body",
    "error_code",
    "error_message",
    "extract_message_id",
    "is_queued",
    "is_quota_text",
]

QUOTA_TEXT_MARKER = "exceeded the maximum limit"
_MESSAGE_MAX = 300


@immutable
class WawpReply:
    """A 2xx answer: its body and, for message-creating actions, the WhatsApp message id."""

    http_status: int
    body: Any
    message_id: str | None


def decode_body(raw: bytes) -> Any:
    """JSON when it is JSON, else the text (Wawp v2 may answer errors as text or XML)."""
    if not raw:
        return None
    try:
        return loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return raw.decode("utf-8", errors="replace")


def _serialized(node: Any) -> str | None:
    if isinstance(node, str) and node:
        return node
    if isinstance(node, dict):
        value = node.get("_serialized")
        if isinstance(value, str) and value:
            return value
    return None


def extract_message_id(body: Any) -> str | None:
    """``id._serialized`` | ``id`` (string) | ``_data.id._serialized`` | ``_data.Info.ID``."""
    if not isinstance(body, dict):
        return None
    found = _serialized(body.get("id"))
    if found:
        return found
    data = body.get("_data")
    if isinstance(data, dict):
        found = _serialized(data.get("id"))
        if found:
            return found
        info = data.get("Info")
        if isinstance(info, dict) and isinstance(info.get("ID"), str) and info["ID"]:
            return str(info["ID"])
    return None


def is_quota_text(body: Any) -> bool:
    text = body.get("message") if isinstance(body, dict) else body
    return isinstance(text, str) and QUOTA_TEXT_MARKER in text.lower()


def is_queued(body: Any) -> bool:
    return isinstance(body, dict) and body.get("sent") is True


def error_code(body: Any) -> str | None:
    """Wawp's error code string: v1 ``{code}``, v2 ``{status:"error", error}``."""
    if not isinstance(body, dict):
        return None
    for key in ("code", "error"):
        value = body.get(key)
        if isinstance(value, str) and value and " " not in value and len(value) <= 64:
            return value
    return None


def error_message(body: Any, fallback: str) -> str:
    text = body.get("message") if isinstance(body, dict) else body
    if isinstance(text, str) and text.strip():
        return text.strip()[:_MESSAGE_MAX]
    return fallback
