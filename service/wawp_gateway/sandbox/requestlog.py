"""The request log: every Wawp request the sandbox received, in order, tokens redacted."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "REDACTED",
    "RequestLog",
    "RequestRecord",
    "redact",
    "redact_headers",
    "redact_query",
]

REDACTED = "***"
_SECRET_KEYS = frozenset({"access_token"})
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One received request. `query` and `body` never hold a token value.

    `seq` orders records by answer (a record is added when its request was handled), `arrival`
    by receipt; `client` is the peer (host, port) of the request's connection."""

    seq: int
    arrival: int
    at: float
    method: str
    path: str  # raw, percent-encoded, as received
    action: str | None
    instance_id: str | None
    query: list[tuple[str, str]]
    body: Any
    status: int | None  # None: no answer was given (hang, disconnect)
    token_in: Literal["query", "body"] | None
    token_valid: bool
    client: tuple[str, int] | None
    # Lower-case names, as received (repeated fields comma-joined); credentials redacted.
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["query"] = [list(pair) for pair in self.query]
        data["client"] = list(self.client) if self.client is not None else None
        return data


def redact(value: Any) -> Any:
    """A copy of a parsed body with every `access_token` value replaced, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if k in _SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def redact_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI header pairs as one mapping with lower-case names; credentials replaced."""
    headers: dict[str, str] = {}
    for name_bytes, value_bytes in raw:
        name = name_bytes.decode("latin-1").lower()
        value = REDACTED if name in _SECRET_HEADERS else value_bytes.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def redact_query(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, REDACTED if k in _SECRET_KEYS else v) for k, v in pairs]


class RequestLog:
    """Append-only; never de-duplicated, so retries show up as the separate calls they are."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._next_seq = 1

    def append(self, **fields: Any) -> RequestRecord:
        record = RequestRecord(seq=self._next_seq, **fields)
        self._next_seq += 1
        self._records.append(record)
        return record

    def select(
        self, instance_id: str | None = None, action: str | None = None, since_seq: int = 0
    ) -> list[RequestRecord]:
        return [
            r
            for r in self._records
            if r.seq > since_seq
            and (instance_id is None or r.instance_id == instance_id)
            and (action is None or r.action == action)
        ]

    def clear(self) -> None:
        # Sequence numbers keep growing so `since_seq` pollers never see a number twice.
        self._records.clear()
