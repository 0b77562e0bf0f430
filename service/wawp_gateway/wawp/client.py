"""WawpClient: one Wawp call for one action, its answer mapped onto the error tree.

Auth always travels in the query (``instance_id``, ``access_token``), as Wawp documents. The
client never logs URLs and scrubs the token from any text it copies out of an answer. Every
request carries the current trace context (``traceparent``); when spans are recorded, each call is
a client span with OpenTelemetry's HTTP attributes: method, the path's template (no query, no
token, no chat id), server address and port, status code.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from wawp_gateway.core.errors import (
    WawpAuthError,
    WawpError,
    WawpQuotaExceeded,
    WawpRateLimited,
    WawpRejected,
    WawpServerError,
    WawpUnavailable,
)
from wawp_gateway.core.sections import WawpSettings
from wawp_gateway.core.tracecontext import http_headers
from wawp_gateway.core.tracing import Attributes, Tracing
from wawp_gateway.wawp.catalog import ActionSpec
from wawp_gateway.wawp.responses import (
    WawpReply,
    decode_body,
    error_code,
    error_message,
    extract_message_id,
    is_quota_text,
)
from wawp_gateway.wawp.transports.base import HttpRequest, HttpResponse, HttpTransport
from wawp_gateway.wawp.wire import build_wire_request

__all__ = ["TokenLookup", "WawpClient", "classify_response"]

TokenLookup = Callable[[str], SecretStr | None]

# Wawp codes that decide the row of the outcomes table whatever the HTTP status.
_NOT_PROCESSED_CODES = frozenset({"proxy_error"})
_MAYBE_PROCESSED_CODES = frozenset({"wawp_upstream_error", "server_not_found"})


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():  # str.isdigit() also accepts "²", which float() refuses
        return float(raw)
    try:
        moment = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # "-0000" parses naive, but HTTP dates are always UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - time.time())


def _scrub(text: str, secret: str) -> str:
    """Remove the token, also percent-encoded as it appears in an echoed URL."""
    if not secret:
        return text
    for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
        text = text.replace(form, "***")
    return text


def classify_response(spec: ActionSpec, response: HttpResponse, *, secret: str = "") -> WawpReply:
    """Map one HTTP answer to a reply or raise the matching WawpError (docs/contract.md
    "Outcomes")."""
    status = response.status
    body = decode_body(response.body)
    code = error_code(body) if not 200 <= status < 300 or isinstance(body, dict) else None
    if code is not None and _scrub(code, secret) != code:
        code = None  # a body echoing the token as its code: fall back to http_<status>

    def message() -> str:  # only for an error: most answers need none
        return _scrub(error_message(body, f"Wawp answered HTTP {status}"), secret)

    def error(cls: type[WawpError], default_code: str | None = None) -> WawpError:
        return cls(message(), code=code or default_code or f"http_{status}", http_status=status)

    if code in _NOT_PROCESSED_CODES:
        raise error(WawpUnavailable)
    if code in _MAYBE_PROCESSED_CODES:
        raise error(WawpServerError)
    if 200 <= status < 300:
        message_id = extract_message_id(body)
        if spec.creates_message and message_id is None and is_quota_text(body):
            raise WawpQuotaExceeded(message(), code="quota_exceeded", http_status=status)
        return WawpReply(status, body, message_id if spec.creates_message else None)
    if status == 429:
        raise WawpRateLimited(
            message(),
            code=code or "http_429",
            http_status=status,
            retry_after_s=_retry_after(response.headers),
        )
    if status == 503:
        raise error(WawpUnavailable)
    if status == 401 or code == "invalid_access_token":
        raise error(WawpAuthError, "invalid_access_token")
    if 400 <= status < 500:
        raise error(WawpRejected)
    raise error(WawpServerError)


class WawpClient:
    """Calls Wawp over one shared transport; satisfies the pipeline's ``WawpPort``."""

    def __init__(
        self,
        settings: WawpSettings,
        transport: HttpTransport,
        tokens: TokenLookup,
        tracing: Tracing | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._tokens = tokens
        self._tracing = tracing or Tracing()
        self._roots = {
            "v1": settings.base_url.rstrip("/"),
            "v2": settings.v2_base_url.rstrip("/"),
        }
        self._span_attributes: dict[str, tuple[str, Attributes]] = {}

    def build_request(
        self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str, token: SecretStr
    ) -> HttpRequest:
        wire = build_wire_request(spec, params)
        auth: list[tuple[str, str]] = []
        if spec.needs_instance:
            auth.append(("instance_id", instance_id))
        auth.append(("access_token", token.get_secret_value()))
        return HttpRequest(
            method=wire.method,
            url=self._roots[wire.api] + wire.path,
            query=(*auth, *wire.query),
            body=wire.body,
            timeout_s=self._settings.timeout_s,
            headers=http_headers(),
        )

    async def call(
        self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str
    ) -> WawpReply:
        token = self._tokens(instance_id)
        if token is None:
            # The worker rejects unknown instances before calling; reaching here is a bug.
            raise WawpAuthError("no access token configured for this instance", http_status=None)
        if not self._tracing.recording:
            request = self.build_request(spec, params, instance_id=instance_id, token=token)
            response = await self._transport.send(request)
            return classify_response(spec, response, secret=token.get_secret_value())
        name, attributes = self._client_span(spec)
        with self._tracing.span(name, SpanKind.CLIENT, attributes) as span:
            # Built inside the span: its traceparent names the client span.
            request = self.build_request(spec, params, instance_id=instance_id, token=token)
            response = await self._transport.send(request)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status)
                if response.status >= 400:
                    span.set_attribute("error.type", str(response.status))
            return classify_response(spec, response, secret=token.get_secret_value())

    def _client_span(self, spec: ActionSpec) -> tuple[str, Attributes]:
        """The span name and attributes of an action's calls (the same for every call)."""
        known = self._span_attributes.get(spec.name)
        if known is None:
            root = urlsplit(self._roots[spec.api])
            template = root.path + spec.path
            attributes: dict[str, str | int] = {
                "http.request.method": spec.method,
                "url.template": template,
                "url.scheme": root.scheme,
                "server.address": root.hostname or "",
                "server.port": root.port or (443 if root.scheme == "https" else 80),
                "wawp.action": spec.name,
            }
            known = self._span_attributes[spec.name] = (f"{spec.method} {template}", attributes)
        return known

    async def aclose(self) -> None:
        await self._transport.aclose()


def retry_after_capped(error: WawpRateLimited, cap_s: float) -> float | None:
    if error.retry_after_s is None or math.isnan(error.retry_after_s):
        return None
    return min(error.retry_after_s, cap_s)
