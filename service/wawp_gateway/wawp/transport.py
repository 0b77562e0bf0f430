"""HTTP transports for the Wawp client: one request in, one response or one of two errors out.

``WawpClient`` speaks to Wawp through the ``HttpTransport`` Protocol. Three stacks implement it
(``build_transport(stack, ...)``): aiohttp directly, httpx with its own pool (httpcore), and
httpx over ``httpx_aiohttp.AiohttpTransport``. Any HTTP answer, whatever its status, is an
``HttpResponse``; status codes are the client's business. A failure without an answer is exactly
one of two errors, decided from evidence of whether request bytes could have reached Wawp
(ARCHITECTURE.md "Outcomes"):

- ``WawpConnectError`` (not processed, ``connect_error``): nothing was written.
- ``WawpTimeout`` (maybe processed, ``timeout``): request bytes may have been written.

The evidence is a per-request flag set *before* the first request byte is handed to the socket:
for aiohttp, a ``ClientRequest`` subclass whose ``send(conn)`` (called once a connection is
established, before anything is written) sets it; for httpx, httpcore's
``http11.send_request_headers.started`` trace event. ``httpx_aiohttp`` forwards no trace
and maps every aiohttp error to a coarse httpx class (a refused connection, a disconnect and an
exhausted pool are all ``httpx.ConnectTimeout``), so that stack decides from the aiohttp exception
found in ``__cause__``. Without evidence the answer is "maybe": a POST then ends
``outcome_unknown`` instead of risking a second message.

======================================  ==============  ============  ===============
failure                                 aiohttp         httpx         httpx-aiohttp
======================================  ==============  ============  ===============
refused, DNS, TLS handshake             Connect [1]     Connect [2]   Connect [3]
connect timeout, pool-acquire timeout   Connect [1]     Connect [2]   Connect [3]
total deadline before headers went out  Connect [1]     Connect [1]   Timeout [4]
total deadline after headers went out   Timeout [1]     Timeout [1]   Timeout [4]
read timeout, slow body                 Timeout [1]     Timeout [5]   Timeout [3]
disconnect before/while answering       Timeout [1]     Timeout [5]   Timeout [3]
write error, protocol error, bad gzip   Timeout [1]     Timeout [5]   Timeout [3]
invalid URL (a configuration bug)       Connect [1]     Connect [2]   Connect [2]
======================================  ==============  ============  ===============

[1] the flag: ``WawpTimeout`` once writing may have started, else ``WawpConnectError``.
    aiohttp: ``ClientTimeout(total=timeout_s, connect=min(connect_timeout_s, timeout_s))``, where
    ``connect`` covers the pool wait plus the connection. httpx: ``asyncio.timeout(timeout_s)``
    around the call, with httpx's phase timeouts inside it.
[2] httpx ``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``, ``UnsupportedProtocol``,
    ``InvalidURL``: raised before any byte is written; the flag must agree (it always has).
[3] ``__cause__`` is ``aiohttp.ClientConnectorError`` (refused, DNS, TLS; also certificate and
    proxy errors), ``aiohttp.ConnectionTimeoutError`` (pool wait or connect) or
    ``aiohttp.InvalidURL``: not sent. Any other cause, or none: maybe.
[4] No evidence from this stack, so maybe. It is only reached when ``connect_timeout_s`` >=
    ``timeout_s``: otherwise the connect phase times out first and lands in row 2.
[5] ``WriteError``, ``WriteTimeout``, ``ReadError``, ``ReadTimeout``, ``RemoteProtocolError``,
    ``DecodingError``; any other ``httpx.TransportError`` follows the flag.

Secrets: Wawp's ``access_token`` travels in the query string, and both libraries put the full URL
into their exception messages (``Connection timeout to host http://...?access_token=...``) and
httpx into its INFO log line. So errors are built from safe parts only (method, host:port, path
with digit runs masked, exception class names, errno names) and raised outside the ``except``
block with ``from None``: neither ``__cause__`` nor ``__context__`` keeps the library's exception,
whose text and ``request`` attribute hold the URL, and ``logging`` with ``exc_info`` prints the
chain. The httpx stacks install ``_RedactQueryFilter`` on the httpx and httpcore loggers.
aiohttp's client logs no URLs.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import http.cookiejar
import logging
import re
import socket
import ssl
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
import httpx
import httpx_aiohttp
import yarl
from aiohttp.connector import Connection

from wawp_gateway.core.config import HttpStack
from wawp_gateway.core.errors import WawpConnectError, WawpTimeout

__all__ = [
    "AiohttpTransport",
    "HttpRequest",
    "HttpResponse",
    "HttpStack",
    "HttpTransport",
    "HttpxAiohttpTransport",
    "HttpxTransport",
    "build_transport",
    "merge_headers",
    "query_string",
    "transport_error",
]

_E = TypeVar("_E", bound=BaseException)

# Shorter than common server keep-alive timeouts (nginx 75 s, Apache 5-15 s with WordPress
# hosts at the low end): a connection we reuse is then unlikely to be one the server is closing,
# which would turn a harmless reuse race into a "maybe processed" failure.
KEEPALIVE_S: Final = 4.0
USER_AGENT: Final = "wawp-gateway"
_JSON_HEADERS: Final = {"accept": "application/json", "content-type": "application/json"}
_ACCEPT_HEADERS: Final = {"accept": "application/json"}
# Phone numbers end up in paths (``/chats/447441429009%40c.us/messages``); error messages mask them.
_DIGIT_RUN: Final = re.compile(r"\d{6,}")
_TOKEN_IN_TEXT: Final = re.compile(r"(access[_-]token=)[^&\s\"'#]*", re.IGNORECASE)
_HTTPX_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


# quote (not quote_plus) with safe="": every reserved character is escaped, so no server has to
# guess whether "+" means a space, and yarl's/httpx's re-quoting leaves the string unchanged.
# Cached because keys and auth values repeat on every call: urlencode was the largest cost this
# module added to aiohttp (bench/http_stacks.py).
# Sized for the values that repeat per instance (ids, tokens) across a few thousand instances.
_quote: Final = functools.lru_cache(maxsize=16_384)(functools.partial(quote, safe=""))


@dataclass(frozen=True, slots=True, repr=False)
class HttpRequest:
    """One Wawp call, fully prepared by the client. ``repr`` hides query values and the body."""

    method: str  # GET POST PUT DELETE PATCH
    url: str  # absolute URL without query string, path already percent-encoded
    query: tuple[tuple[str, str], ...]  # flattened query pairs, auth included
    body: bytes | None  # pre-serialized JSON body or None
    timeout_s: float  # total time of the call

    def __repr__(self) -> str:
        keys = tuple(key for key, _ in self.query)
        size = "None" if self.body is None else f"<{len(self.body)} bytes>"
        return (
            f"HttpRequest({_safe_target(self.method, self.url)!r}, query_keys={keys!r}, "
            f"body={size}, timeout_s={self.timeout_s!r})"
        )

    def full_url(self) -> str:
        """The URL with its query; ``%20`` for spaces and ``%5B``/``%5D`` for ``file[url]``."""
        return _full_url(self.url, self.query)


def _full_url(url: str, query: tuple[tuple[str, str], ...]) -> str:
    if not query:
        return url
    return f"{url}?{query_string(query)}"


def query_string(query: tuple[tuple[str, str], ...]) -> str:
    """``a=1&b=%20x``: every pair percent-encoded, in order."""
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query)


@functools.lru_cache(maxsize=8_192)
def _encoded_url(url: str, query: tuple[tuple[str, str], ...]) -> yarl.URL:
    """The request's URL for aiohttp, already percent-encoded (yarl must not encode it again).
    Most calls repeat one (an instance's sends: same path, same auth query): built once each,
    where building and parsing it cost ~3% of the worker's CPU per command."""
    return yarl.URL(_full_url(url, query), encoded=True)


@dataclass(frozen=True, slots=True, repr=False)
class HttpResponse:
    """Any answer from Wawp, whatever its status. ``repr`` leaves out the body."""

    status: int
    headers: Mapping[str, str]  # lower-case names; repeated fields joined with ", "
    body: bytes

    def __repr__(self) -> str:
        return f"HttpResponse(status={self.status}, body=<{len(self.body)} bytes>)"


class HttpTransport(Protocol):
    """Sends one request; raises only ``WawpConnectError`` or ``WawpTimeout`` (or cancellation)."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...

    async def aclose(self) -> None: ...


def build_transport(
    stack: HttpStack, *, max_connections: int, connect_timeout_s: float
) -> HttpTransport:
    """The process's one transport. Build it once (``app``), close it with ``aclose()``."""
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    if connect_timeout_s <= 0:
        raise ValueError("connect_timeout_s must be positive")
    if stack == "aiohttp":
        return AiohttpTransport(
            max_connections=max_connections, connect_timeout_s=connect_timeout_s
        )
    if stack == "httptools":
        # Imported here: it builds on this module's request, response and error helpers.
        from wawp_gateway.wawp.lean import HttptoolsTransport

        return HttptoolsTransport(
            max_connections=max_connections, connect_timeout_s=connect_timeout_s
        )
    if stack == "httpx":
        return HttpxTransport(max_connections=max_connections, connect_timeout_s=connect_timeout_s)
    if stack == "httpx-aiohttp":
        return HttpxAiohttpTransport(
            max_connections=max_connections, connect_timeout_s=connect_timeout_s
        )
    raise ValueError(f"unknown HTTP stack {stack!r}")


class _Progress:
    """Per-request evidence: set before the first request byte can reach the socket."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False

    async def on_httpcore_event(self, name: str, info: Mapping[str, object]) -> None:
        # httpcore emits "<prefix>.send_request_headers.started" before writing anything.
        if name.endswith("send_request_headers.started"):
            self.sent = True


# The request being sent by the current task. aiohttp runs a request inside the caller's task,
# so _TrackedRequest.send() sees the _Progress that AiohttpTransport.send() set.
_SENDING: Final[ContextVar[_Progress | None]] = ContextVar("wawp_transport_sending", default=None)


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

    def __init__(self, *, max_connections: int, connect_timeout_s: float) -> None:
        self._max_connections = max_connections
        self._connect_timeout_s = connect_timeout_s
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
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # Wawp is stateless; never echo cookies
            headers={"user-agent": USER_AGENT},
            # No default Content-Type on a body-less POST; JSON bodies set theirs.
            skip_auto_headers=("content-type",),
            raise_for_status=False,
            request_class=_TrackedRequest,
        )
        # aiohttp silently resends a GET/PUT/DELETE once when a reused keep-alive connection
        # turns out closed. Every call must count as an attempt and take a rate token, and a
        # disconnect after sending must surface as "maybe processed": no hidden second call.
        # aiohttp has no public switch for it (3.14), only this attribute.
        self._session._retry_connection = False
        return self._session

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
        progress = _Progress()
        sending = _SENDING.set(progress)
        try:
            async with session.request(
                request.method,
                _encoded_url(request.url, request.query),
                data=request.body,
                headers=_ACCEPT_HEADERS if request.body is None else _JSON_HEADERS,
                allow_redirects=False,
                timeout=self._timeout(request.timeout_s),
            ) as response:
                body = await response.read()
                return HttpResponse(response.status, merge_headers(response.headers.items()), body)
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


class HttpxTransport:
    """httpx over one ``AsyncClient`` and its own pool (httpcore)."""

    def __init__(self, *, max_connections: int, connect_timeout_s: float) -> None:
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
            transport=self._build_transport(limits),
            headers={"user-agent": USER_AGENT},
            cookies=_no_cookies(),
            follow_redirects=False,
            trust_env=False,  # no proxy or netrc picked up from the environment
        )
        self._closed = False

    def _build_transport(self, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
        return None  # httpx builds its default AsyncHTTPTransport from `limits`

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
                    headers=_ACCEPT_HEADERS if request.body is None else _JSON_HEADERS,
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
        # See AiohttpTransport.send: httpx's exception holds the URL in its message and in
        # `.request`; raising outside the except block keeps it out of the chain entirely.
        raise error from None

    def _is_sent(self, exc: Exception, progress: _Progress) -> bool:
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


class HttpxAiohttpTransport(HttpxTransport):
    """httpx over ``httpx_aiohttp.AiohttpTransport``: httpx's API at aiohttp's speed.

    Limits must be given to the transport (it ignores the client's). It builds its own aiohttp
    session on first use, with aiohttp's default cookie jar: a ``Set-Cookie`` from Wawp would be
    sent back. It ignores httpx's write timeout and the ``trace`` extension.
    """

    def _build_transport(self, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
        return httpx_aiohttp.AiohttpTransport(limits=limits, trust_env=False)

    def _is_sent(self, exc: Exception, progress: _Progress) -> bool:
        # Every aiohttp error arrives as a coarse httpx class; the aiohttp one is the cause.
        cause = _find_in_chain(exc, aiohttp.ClientError)
        return cause is None or not isinstance(cause, _AIOHTTP_BEFORE_SEND)


_HTTPX_BEFORE_SEND: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
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
# ConnectionTimeoutError is raised only around connector.connect() (pool wait + connect), and
# ClientConnectorError (with its SSL, certificate and proxy subclasses) only while connecting.
_AIOHTTP_BEFORE_SEND: Final = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp.InvalidURL,
)


def transport_error(request: HttpRequest, exc: BaseException, *, sent: bool) -> Exception:
    where = _safe_target(request.method, request.url)
    if sent:
        return WawpTimeout(f"{where}: no answer, may have been processed ({_describe(exc)})")
    return WawpConnectError(f"{where}: not sent ({_describe(exc)})")


def _safe_target(method: str, url: str) -> str:
    """``POST api.wawp.net/v2/send/text``: no scheme, userinfo, query, fragment or phone number."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{method} {host}{_DIGIT_RUN.sub('***', parts.path)}"


# Their errno fields hold resolver or OpenSSL codes, which errno.errorcode would misname.
_NOT_ERRNO: Final = (socket.gaierror, ssl.SSLError)


def _describe(exc: BaseException) -> str:
    """Class names along the exception chain, with errno or TLS reason names; never messages."""
    names: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(names) < 6:
        name = type(current).__name__
        # aiohttp's ClientConnectorSSLError is an ssl.SSLError without `reason`.
        reason = getattr(current, "reason", None) if isinstance(current, ssl.SSLError) else None
        if isinstance(reason, str):
            name += f"({reason})"
        elif isinstance(current, OSError) and not isinstance(current, _NOT_ERRNO):
            code = errno.errorcode.get(current.errno) if current.errno is not None else None
            if code is not None:
                name += f"({code})"
        names.append(name)
        current = current.__cause__ or current.__context__
    return " <- ".join(names)


def _find_in_chain(exc: BaseException, kind: type[_E]) -> _E | None:
    current: BaseException | None = exc
    for _ in range(6):
        if current is None:
            return None
        if isinstance(current, kind):
            return current
        current = current.__cause__ or current.__context__
    return None


def merge_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        # RFC 9110 5.3: a repeated field is equivalent to one with the values comma-joined.
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


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
