"""Fault and latency rules: what the sandbox does instead of (or after) answering normally."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["FaultBook", "FaultKind", "FaultRule", "fault_reply"]

FaultKind = Literal[
    "rate_limited",
    "unavailable",
    "error_after_store",
    "wawp_error",
    "hang",
    "disconnect",
    "quota_text",
    "queued",
    "latency",
]

# Kinds that by default act first: Wawp did the work and only the answer went wrong. These are
# the "maybe sent" cases the gateway must not resend blindly, so they default to storing.
_STORE_BY_DEFAULT = frozenset({"error_after_store", "hang", "disconnect", "queued"})
QUOTA_TEXT = "The number of messages you have sent per month has exceeded the maximum limit"
_ERROR_CODES = {500: "internal_server_error", 502: "bad_gateway", 504: "gateway_timeout"}


class FaultRule(BaseModel):
    """One rule; rules are checked in order and the first that matches (and fires) applies."""

    instance_id: str | None = None  # None = any instance
    action: str | None = None  # None = any action
    kind: FaultKind
    status: int | None = Field(default=None, ge=100, le=599)
    code: str | None = None
    retry_after_s: float | None = Field(default=None, ge=0)
    latency_ms: float = Field(default=0, ge=0)
    store: bool | None = None
    times: int | None = Field(default=None, ge=1)
    probability: float = Field(default=1.0, ge=0, le=1)

    @property
    def acts_first(self) -> bool:
        """Whether the request is executed (message stored, state changed) before the fault."""
        if self.kind == "queued":
            return True
        if self.kind == "latency":
            return True
        return self.store if self.store is not None else self.kind in _STORE_BY_DEFAULT

    def matches(self, instance_id: str | None, action: str) -> bool:
        return (self.instance_id is None or self.instance_id == instance_id) and (
            self.action is None or self.action == action
        )


@dataclass(slots=True)
class _Armed:
    rule: FaultRule
    remaining: int | None


class FaultBook:
    """The ordered rule list, with `times` counting and seeded `probability` draws."""

    def __init__(self, rng: random.Random) -> None:
        self._rules: list[_Armed] = []
        self._rng = rng

    def add(self, rule: FaultRule) -> None:
        self._rules.append(_Armed(rule, rule.times))

    def clear(self) -> None:
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        return [armed.rule for armed in self._rules]

    def take(self, instance_id: str | None, action: str) -> FaultRule | None:
        """The rule that applies to this request, consuming one of its `times`."""
        for armed in self._rules:
            rule = armed.rule
            if not rule.matches(instance_id, action):
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining <= 0:
                    self._rules.remove(armed)
            return rule
        return None


def fault_reply(rule: FaultRule) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]:
    """Status, body and extra headers for the answering fault kinds."""
    kind = rule.kind
    if kind == "rate_limited":
        headers = []
        if rule.retry_after_s is not None:
            headers.append((b"retry-after", str(math.ceil(rule.retry_after_s)).encode()))
        return 429, _error(rule.code or "rate_limited", "Too many requests.", 429), headers
    if kind == "unavailable":
        status = rule.status or 503
        return (
            status,
            _error(rule.code or "service_unavailable", "Service unavailable.", status),
            [],
        )
    if kind == "error_after_store":
        status = rule.status or 500
        code = rule.code or _ERROR_CODES.get(status, f"http_{status}")
        return status, _error(code, "The server failed after accepting the request.", status), []
    if kind == "wawp_error":
        status = rule.status or 500
        body: dict[str, Any] = {"message": "Simulated Wawp error.", "data": {"status": status}}
        if rule.code is not None:  # no code at all lets clients exercise their http_<status> path
            body = {"code": rule.code, **body}
        return status, body, []
    if kind == "quota_text":
        return 200, {"status": "success", "message": QUOTA_TEXT}, []
    if kind == "queued":
        return 200, {"sent": True, "upstream_status": 201}, []
    raise ValueError(f"fault kind {kind!r} has no reply")


def _error(code: str, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "data": {"status": status}}
