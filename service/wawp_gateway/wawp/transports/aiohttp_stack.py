"""The ``aiohttp`` HTTP stack (the default): one ``ClientSession`` and its pool, TLS verified
against the system's CAs plus ``GATEWAY_WAWP__CA_FILE``, every call through
``GATEWAY_WAWP__PROXY_URL`` when set (a CONNECT tunnel per pooled HTTPS connection).

Evidence for the two failure kinds (``base``): ``_TrackedRequest`` marks the request "sent" as
aiohttp starts writing it to an established connection; the proxy's CONNECT is a plain
``ClientRequest`` and marks nothing.
"""

from __future__ import annotations

import functools
from contextvars import ContextVar
from pathlib import Path
from typing import Final

import aiohttp
import yarl
from aiohttp.connector import Connection
from pydantic import SecretStr

from wawp_gateway.wawp.transports.base import (
    KEEPALIVE_S,
    USER_AGENT,
    HttpRequest,
    HttpResponse,
    MergedHeaders,
    SendProgress,
    query_string,
    tls_context,
    transport_error,
)

__all__ = ["AiohttpTransport"]


@functools.lru_cache(maxsize=256)
def _url_parts(url: str) -> tuple[str, str, str]:
    """Scheme, authority and path of a request URL without its query: a handful of them (the
    v1 and v2 roots' action paths) take nearly every call."""
    parsed = yarl.URL(url, encoded=True)
    return parsed.scheme, parsed.raw_authority, parsed.raw_path


def _encoded_url(url: str, query: tuple[tuple[str, str], ...]) -> yarl.URL:
    """The request's URL for aiohttp, already percent-encoded (yarl must not encode it again).

    Built from the cached parts of ``url`` and the query, not parsed whole: the query carries
    the chat and the text, so nearly every full URL is new."""
    scheme, authority, path = _url_parts(url)
    return yarl.URL.build(
        scheme=scheme,
        authority=authority,
        path=path,
        query_string=query_string(query),
        encoded=True,
    )


# The request being sent by the current task. aiohttp runs a request inside the caller's task,
# so _TrackedRequest.send() sees the SendProgress that AiohttpTransport.send() set.
_SENDING: Final[ContextVar[SendProgress | None]] = ContextVar(
    "wawp_transport_sending", default=None
)


class _TrackedRequest(aiohttp.ClientRequest):
    """Marks the request "sent" when aiohttp starts writing it to an established connection.

    ``ClientRequest.send(conn)`` is the first step that writes: it runs after the pool wait,
    DNS, TCP and TLS, and before the headers are buffered. A trace (``TraceConfig`` with
    ``on_request_headers_sent``) gives the same evidence, but any trace makes aiohttp emit every
    signal of every request: measured -25 % requests/s at 64 in flight (bench/http_stacks.py).
    """

    async def send(self, conn: Connection) -> aiohttp.ClientResponse:
        progress = _SENDING.get()
        if progress is not None:
            progress.sent = True
        return await super().send(conn)


class AiohttpTransport:
    """aiohttp over one ``ClientSession``, created on the first ``send`` (it needs a loop)."""

    def __init__(
        self,
        *,
        max_connections: int,
        connect_timeout_s: float,
        proxy_url: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._connect_timeout_s = connect_timeout_s
        # aiohttp takes the proxy's credentials from the URL's userinfo and sends them as
        # Proxy-Authorization, on the CONNECT only for HTTPS. Held as a secret until the session
        # is built, so that no repr of this object shows them.
        self._proxy = None if proxy_url is None else SecretStr(proxy_url)
        self._tls = tls_context(ca_file)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("transport is closed")
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,  # one host; `limit` is the bound
            keepalive_timeout=KEEPALIVE_S,
            ssl=self._tls,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # Wawp is stateless; never echo cookies
            headers={"user-agent": USER_AGENT},
            # No default Content-Type on a body-less POST; JSON bodies set theirs.
            skip_auto_headers=("content-type",),
            raise_for_status=False,
            request_class=_TrackedRequest,
            proxy=None if self._proxy is None else yarl.URL(self._proxy.get_secret_value()),
            trust_env=False,  # the proxy is GATEWAY_WAWP__PROXY_URL, never HTTPS_PROXY
        )
        # aiohttp silently resends a GET/PUT/DELETE once when a reused keep-alive connection
        # turns out closed. Every call must count as an attempt and take a rate token, and a
        # disconnect after sending must surface as "maybe processed": no hidden second call.
        # aiohttp has no public switch for it (3.14), only this attribute.
        self._session._retry_connection = False
        return self._session

    def __repr__(self) -> str:
        if self._proxy is None:
            proxy = "none"
        else:
            url = yarl.URL(self._proxy.get_secret_value())
            proxy = f"{url.host}:{url.port}"
        return f"AiohttpTransport(max_connections={self._max_connections}, proxy={proxy})"

    def _timeout(self, timeout_s: float) -> aiohttp.ClientTimeout:
        # A handful of distinct timeouts per process: cache rather than rebuild per call.
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=timeout_s, connect=min(self._connect_timeout_s, timeout_s)
            )
            self._timeouts[timeout_s] = timeout
        return timeout

    async def send(self, request: HttpRequest) -> HttpResponse:
        session = self._session or self._open()
        progress = SendProgress()
        sending = _SENDING.set(progress)
        try:
            async with session.request(
                request.method,
                _encoded_url(request.url, request.query),
                data=request.body,
                headers=request.header_fields(),
                allow_redirects=False,
                timeout=self._timeout(request.timeout_s),
            ) as response:
                body = await response.read()
                return HttpResponse(response.status, MergedHeaders(response.headers.items()), body)
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            error = transport_error(request, exc, sent=progress.sent)
        finally:
            _SENDING.reset(sending)
        # Raised here, outside the except block, and from None: aiohttp's exception (whose
        # message and request_info hold the URL with the token) stays out of __cause__ and
        # __context__, so no traceback or exc_info log can print it.
        raise error from None

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
