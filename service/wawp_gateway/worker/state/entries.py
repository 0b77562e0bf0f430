"""A key's latest record as the store holds it: ``StateEvent`` in, packed bytes, ``Entry`` out.

A restore may hold a million keys: as objects (an Entry, its strings and floats) each cost ~590
bytes and were tracked by the garbage collector; packed, ~280, and a dict of str -> bytes is not
tracked at all.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wawp_gateway.core.contracts import StateStatus
from wawp_gateway.core.values import immutable

__all__ = [
    "HEAD",
    "STATUSES",
    "STATUS_INDEX",
    "Entry",
    "ErrorTuple",
    "StateEvent",
    "join",
    "pack",
    "split",
    "unpack",
]

ErrorTuple = tuple[str, str, bool]  # code, message, retryable


@dataclass(slots=True)
class StateEvent:
    """One ``wawp.state`` record as the store needs it (times are Unix seconds)."""

    instance_id: str
    key: str
    status: StateStatus
    command_id: str
    replay_count: int
    fingerprint: str
    recorded_at: float
    attempts: int = 0
    message_id: str | None = None
    error: ErrorTuple | None = None
    first_attempt_at: float | None = None


# Layout: header, then command id (unless it equals the key), message id, error code and text.
HEAD = struct.Struct("<BBQHdd16s")  # status, flags, replay, attempts, recorded, first, print
_LEN = struct.Struct("<I")
_SAME_ID, _MESSAGE, _ERROR, _RETRYABLE, _FIRST = 1, 2, 4, 8, 16
STATUSES = tuple(StateStatus)
STATUS_INDEX = {status: index for index, status in enumerate(STATUSES)}


def pack(event: StateEvent) -> bytes:
    flags = 0
    tail = []
    if event.command_id == event.key:
        flags |= _SAME_ID
    else:
        tail.append(event.command_id.encode())
    if event.message_id is not None:
        flags |= _MESSAGE
        tail.append(event.message_id.encode())
    if event.error is not None:
        code, message, retryable = event.error
        flags |= _ERROR | (_RETRYABLE if retryable else 0)
        tail += (code.encode(), message.encode())
    if event.first_attempt_at is not None:
        flags |= _FIRST
    head = HEAD.pack(
        STATUS_INDEX[event.status],
        flags,
        min(event.replay_count, 0xFFFF_FFFF_FFFF_FFFF),
        min(event.attempts, 0xFFFF),
        event.recorded_at,
        event.first_attempt_at or 0.0,
        bytes.fromhex(event.fingerprint),
    )
    return head + b"".join(_LEN.pack(len(part)) + part for part in tail)


def join(blobs: tuple[bytes, ...]) -> bytes:
    return b"".join(_LEN.pack(len(blob)) + blob for blob in blobs)


def split(joined: bytes | None) -> list[bytes]:
    blobs = []
    offset = 0
    while joined is not None and offset < len(joined):
        (size,) = _LEN.unpack_from(joined, offset)
        offset += _LEN.size
        blobs.append(joined[offset : offset + size])
        offset += size
    return blobs


def unpack(key: str, blob: bytes) -> Entry:
    status, flags, replay, attempts, recorded, first, digest = HEAD.unpack_from(blob)
    offset = HEAD.size
    parts = []
    while offset < len(blob):
        (size,) = _LEN.unpack_from(blob, offset)
        offset += _LEN.size
        parts.append(blob[offset : offset + size].decode())
        offset += size
    command_id = key if flags & _SAME_ID else parts.pop(0)
    message_id = parts.pop(0) if flags & _MESSAGE else None
    error = (parts[0], parts[1], bool(flags & _RETRYABLE)) if flags & _ERROR else None
    return Entry(
        status=STATUSES[status],
        fingerprint=digest.hex(),
        command_id=command_id,
        replay_count=replay,
        message_id=message_id,
        error=error,
        first_attempt_at=first if flags & _FIRST else None,
        recorded_at=recorded,
        attempts=attempts,
    )


@immutable
class Entry:
    """A key's record, as read back from the store."""

    status: StateStatus
    fingerprint: str
    command_id: str
    replay_count: int
    message_id: str | None
    error: ErrorTuple | None
    first_attempt_at: float | None
    recorded_at: float
    attempts: int

    def same_command(self, command_id: str, replay_count: int) -> bool:
        return self.command_id == command_id and self.replay_count == replay_count
