"""The webhook receiver's checks of a request, pure: authentication, the query, the envelope.

A request that fails one is ``Refused``: answered with its status and counted under its
``Outcome``, never published (docs/contract.md "Webhooks").
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

import orjson

from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.sections import WebhookSettings

__all__ = [
    "SESSION_STATUS_EVENT",
    "Headers",
    "Outcome",
    "Refused",
    "WebhookEvent",
    "check_auth_configured",
    "is_authentic",
    "parse_event",
    "query_value",
]

Headers = list[tuple[str, bytes]]

SESSION_STATUS_EVENT = "session.status"

Outcome = Literal[
    "published",
    "duplicate",
    "unauthorized",
    "too_large",
    "bad_request",
    "not_found",
    "method_not_allowed",
    "unavailable",
]


class Refused(Exception):
    """A request answered without publishing: ``status`` and the metric's ``outcome``."""

    def __init__(self, status: int, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~0.3 us more on every post
class WebhookEvent:
    instance: str
    event: str
    event_id: str | None
    body: bytes
    # session.status only (docs/contract.md "Held instances"): the payload's
    # status and the envelope's timestamp (Unix milliseconds), as sent.
    status: Any = None
    timestamp: Any = None

    @property
    def headers(self) -> Headers:
        headers = [("wawp-event", self.event.encode())]
        if self.event_id is not None:
            headers.append(("wawp-event-id", self.event_id.encode()))
        headers.append(("wawp-instance", self.instance.encode()))
        return headers


def check_auth_configured(settings: WebhookSettings) -> None:
    """Refuse to run open unless told to; an empty secret or key counts as a mistake."""
    for name, value in (("SECRET", settings.secret), ("HMAC_KEY", settings.hmac_key)):
        if value is not None and not value.get_secret_value():
            raise ConfigError(f"GATEWAY_WEBHOOK__{name}", "is set but empty")
    if settings.secret is None and settings.hmac_key is None and not settings.allow_unauthenticated:
        raise ConfigError(
            "GATEWAY_WEBHOOK__SECRET",
            "the webhook receiver needs a secret or GATEWAY_WEBHOOK__HMAC_KEY "
            "(or GATEWAY_WEBHOOK__ALLOW_UNAUTHENTICATED=true to run it open)",
        )


def is_authentic(
    settings: WebhookSettings, query_secret: bytes | None, signature: bytes | None, body: bytes
) -> bool:
    """Every configured check must pass; comparisons take constant time."""
    if settings.secret is not None:
        expected = settings.secret.get_secret_value().encode()
        if query_secret is None or not hmac.compare_digest(query_secret, expected):
            return False
    if settings.hmac_key is not None:
        key = settings.hmac_key.get_secret_value().encode()
        digest = hmac.new(key, body, hashlib.sha512).hexdigest().encode()
        if signature is None or not hmac.compare_digest(signature.strip().lower(), digest):
            return False
    return True


def parse_event(body: bytes, path_instance: str | None) -> WebhookEvent:
    """The envelope's routing fields; raises Refused (400) for anything else."""
    try:
        data = _loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "bad_request", "body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "bad_request", "body is not a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise Refused(400, "bad_request", "body has no string 'event'")
    instance = path_instance or data.get("session")
    if not isinstance(instance, str) or not instance:
        raise Refused(400, "bad_request", "no instance: neither the path nor 'session' names one")
    event_id = data.get("id")
    parsed = WebhookEvent(
        instance=instance,
        event=event,
        event_id=event_id if isinstance(event_id, str) and event_id else None,
        body=body,
    )
    if event == SESSION_STATUS_EVENT:
        payload = data.get("payload")
        parsed.status = payload.get("status") if isinstance(payload, dict) else None
        parsed.timestamp = data.get("timestamp")
    return parsed


def _loads(body: bytes) -> Any:
    """orjson (~1.5 us for an ack envelope, against ~4.3 us) where it takes the text, else
    ``json``: UTF-16/32 bodies, lone surrogates, NaN and deep nesting are decided as before.
    Only the routing fields are read, and the body is published as it came, so orjson reading
    integers beyond 64 bits as floats changes nothing here."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def query_value(query: bytes, name: bytes) -> bytes | None:
    """The first value of ``name`` in a query string, percent-decoded (as parse_qs would)."""
    if b"%" not in query and b"+" not in query:  # nothing to decode: the usual case
        for pair in query.split(b"&"):
            key, sep, value = pair.partition(b"=")
            if key == name:
                return value if sep else b""
        return None
    for pair in query.split(b"&"):
        key, sep, value = pair.partition(b"=")
        if unquote_to_bytes(key.replace(b"+", b" ")) == name:
            return unquote_to_bytes(value.replace(b"+", b" ")) if sep else b""
    return None
