"""Dead letters: the DLQ value (original bytes, tokens redacted) and its ``dlq-*`` headers."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from wawp_gateway.core.contracts import DlqHeaders, DlqReason
from wawp_gateway.worker.intake import Envelope

__all__ = ["DeadLetter", "build_dead_letter", "redact_tokens"]

_SECRET_KEY = "access_token"
# For bytes that are not JSON: `access_token=...`, `"access_token": "..."` and the like.
_TOKEN_IN_TEXT = re.compile(rb"""(access_token["']?\s*[:=]\s*["']?)([^"'&\s,;}]+)""")


def _redact(node: Any) -> tuple[Any, bool]:
    if isinstance(node, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == _SECRET_KEY:
                out[key], changed = "***", True
            else:
                out[key], sub = _redact(value)
                changed = changed or sub
        return out, changed
    if isinstance(node, list):
        items = [_redact(item) for item in node]
        return [item for item, _ in items], any(sub for _, sub in items)
    return node, False


def redact_tokens(value: bytes) -> tuple[bytes, bool]:
    """The value with every ``access_token`` replaced by ``"***"``; True when anything changed.

    JSON is rewritten only when it held a token, so a clean command keeps its exact bytes."""
    try:
        # Parsed even without the literal key in the bytes: JSON may spell it with escapes
        # ("access\u005ftoken"). ValueError also covers integers past Python's digit limit.
        cleaned, changed = _redact(json.loads(value))
        if not changed:
            return value, False
        return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode(), True
    except (ValueError, RecursionError):
        redacted = _TOKEN_IN_TEXT.sub(rb"\1***", value)
        return redacted, redacted != value


class DeadLetter:
    __slots__ = ("headers", "key", "value")

    def __init__(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.key = key
        self.value = value
        self.headers = headers


def build_dead_letter(
    envelope: Envelope,
    *,
    key: bytes | None,
    reason: DlqReason,
    error_code: str,
    error_message: str,
    attempts: int,
    replay_count: int,
    first_attempt_at: datetime | None = None,
    last_attempt_at: datetime | None = None,
) -> DeadLetter:
    value, redacted = redact_tokens(envelope.value or b"")
    headers = DlqHeaders(
        reason=reason,
        error_code=error_code,
        error_message=error_message,
        original_topic=envelope.topic,
        original_partition=envelope.partition,
        original_offset=envelope.offset,
        attempts=attempts,
        first_attempt_at=first_attempt_at,
        last_attempt_at=last_attempt_at,
        replay_count=replay_count,
        redacted=redacted,
    )
    return DeadLetter(key, value, headers.to_kafka())
