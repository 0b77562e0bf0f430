"""The ``httpx`` HTTP stack: one ``httpx.AsyncClient`` over httpx's own pool (httpcore), TLS
verified against the system's CAs plus ``GATEWAY_WAWP__CA_FILE``, every call through
``GATEWAY_WAWP__PROXY_URL`` when set.

Evidence for the two failure kinds (``base``): httpcore's trace event before the request headers
are written. A proxy tunnel's CONNECT carries the request's extensions, so its own trace events
arrive too: only a non-CONNECT request's headers count. httpx logs every request URL at INFO,
token included: the stack installs ``_RedactQueryFilter``.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import httpx

from wawp_gateway.wawp.transports.base import (
    KEEPALIVE_S,
    USER_AGENT,
    HttpRequest,
    HttpResponse,
    SendProgress,
    merge_headers,
    tls_context,
    transport_error,
)

__all__ = ["HttpxTransport"]

_TOKEN_IN_TEXT: Final = re.compile(r"(access[_-]token=)[^&\s\"'#]*", re.IGNORECASE)
_HTTPX_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _Progress(SendProgress):
    """``SendProgress`` fed by httpcore's trace extension."""

    __slots__ = ()

    async def on_httpcore_event(self, name: str, info: Mapping[str, object]) -> None:
        # httpcore emits "<prefix>.send_request_headers.started" before writing anything; a
        # proxy tunnel's CONNECT is traced the same way but carries no byte of the request.
        if name.endswith("send_request_headers.started"):
            request = info.get("request")
            if getattr(request, "method", None) != b"CONNECT":
                self.sent = True


class HttpxTransport:
    """httpx over one ``AsyncClient`` and its own pool (httpcore)."""

    def __init__(
        self,
        *,
        max_connections: int,
        connect_timeout_s: float,
        proxy_url: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._timeouts: dict[float, httpx.Timeout] = {}
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=KEEPALIVE_S,
        )
        _install_log_filter()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect_timeout_s),  # every call passes its own (below)
            limits=limits,
            verify=tls_context(ca_file),
            # httpx sends the URL's userinfo as Proxy-Authorization (on the CONNECT for HTTPS).
            proxy=None if proxy_url is None else httpx.Proxy(proxy_url),
            headers={"user-agent": USER_AGENT},
            cookies=_no_cookies(),
            follow_redirects=False,
            trust_env=False,  # no proxy or netrc picked up from the environment
        )
        self._closed = False

    def _timeout(self, timeout_s: float) -> httpx.Timeout:
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            # Phase timeouts inside the total deadline: connect and pool wait end by
            # connect_timeout_s and report themselves as ConnectTimeout / PoolTimeout.
            connect = min(self._connect_timeout_s, timeout_s)
            timeout = httpx.Timeout(timeout_s, connect=connect, pool=connect)
            self._timeouts[timeout_s] = timeout
        return timeout

    async def send(self, request: HttpRequest) -> HttpResponse:
        if self._closed:
            raise RuntimeError("transport is closed")
        progress = _Progress()
        try:
            # httpx's timeouts are per phase (a slow trickle never trips `read`); this bounds
            # the whole call, body included.
            async with asyncio.timeout(request.timeout_s):
                response = await self._client.request(
                    request.method,
                    request.full_url(),
                    content=request.body,
                    headers=request.header_fields(),
                    timeout=self._timeout(request.timeout_s),
                    extensions={"trace": progress.on_httpcore_event},
                )
        except (httpx.RequestError, httpx.InvalidURL, TimeoutError) as exc:
            error = transport_error(request, exc, sent=self._is_sent(exc, progress))
        else:
            return HttpResponse(
                response.status_code,
                merge_headers(response.headers.multi_items()),
                response.content,
            )
        # As in AiohttpTransport.send: httpx's exception holds the URL in its message and in
        # `.request`; raising outside the except block keeps it out of the chain entirely.
        raise error from None

    def _is_sent(self, exc: Exception, progress: SendProgress) -> bool:
        if isinstance(exc, TimeoutError):  # our total deadline: only the trace knows
            return progress.sent
        if isinstance(exc, _HTTPX_BEFORE_SEND):
            return progress.sent  # False in practice; if the trace disagrees, trust "maybe"
        return progress.sent or isinstance(exc, _HTTPX_AFTER_SEND)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.aclose()


_HTTPX_BEFORE_SEND: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,  # the proxy refused the CONNECT (407, 502, ...): nothing of ours went out
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
)
_HTTPX_AFTER_SEND: Final = (
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)


def _no_cookies() -> http.cookiejar.CookieJar:
    # httpx has no dummy jar; a policy that allows no domain stores nothing.
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


class _RedactQueryFilter(logging.Filter):
    """Redacts URLs in httpx/httpcore records: ``HTTP Request: POST https://...?access_token=``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_TEXT.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redact(value) for key, value in record.args.items()}
        return True  # keep the line, minus the secret


def _redact(value: object) -> object:
    if isinstance(value, httpx.URL):
        # Drop the whole query: besides the token it carries chat ids and message text.
        return f"{value.copy_with(query=None)}?..." if value.query else str(value)
    if isinstance(value, str):
        return _TOKEN_IN_TEXT.sub(r"\1***", value)
    return value


def _install_log_filter() -> None:
    """Idempotent: attaches one redacting filter to each httpx/httpcore logger."""
    for name in _HTTPX_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _RedactQueryFilter) for existing in logger.filters):
            logger.addFilter(_RedactQueryFilter())
