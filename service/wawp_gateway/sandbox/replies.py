"""Answers as data (status, JSON body, headers) and the WordPress error bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "error_reply", "no_route"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def encode(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


def error_reply(status: int, code: str, message: str, **data: Any) -> Reply:
    return Reply(status, {"code": code, "message": message, "data": {"status": status, **data}})


def no_route() -> Reply:
    return error_reply(
        404, "rest_no_route", "No route was found matching the URL and request method."
    )
