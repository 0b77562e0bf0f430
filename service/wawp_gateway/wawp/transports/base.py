"""What every HTTP stack shares: one request in, one response or one of two errors out.

``WawpClient`` speaks to Wawp through the ``HttpTransport`` Protocol. Three stacks implement it,
chosen by ``build_transport(stack, ...)`` (``factory``): aiohttp (``aiohttp_stack``, the
default), httpx with its own pool (httpcore, ``httpx_stack``), and a small HTTP/1.1 client over
httptools (``httptools_stack``, an opt-in without proxy support). All three verify TLS against
the system's CAs plus ``GATEWAY_WAWP__CA_FILE`` (``tls_context``); aiohttp and httpx send every
call through ``GATEWAY_WAWP__PROXY_URL`` when it is set (CONNECT for HTTPS). Any HTTP answer,
whatever its status, is an ``HttpResponse``; status codes are the client's business. A failure
without an answer is exactly one of two errors, decided from evidence of whether request bytes
could have reached Wawp (docs/contract.md "Outcomes"):

- ``WawpConnectError`` (not processed, ``connect_error``): nothing was written.
- ``WawpTimeout`` (maybe processed, ``timeout``): request bytes may have been written.

The evidence is a per-request flag set *before* the first request byte is handed to the socket:
for aiohttp, set once its connector handed out an established connection (proxy tunnel and TLS
included) and before the request is written to it; for httpx,
httpcore's ``http11.send_request_headers.started`` trace event of the request itself (not of a
proxy's CONNECT); for httptools, handing the request to an established connection. Without
evidence the answer is "maybe": a POST then ends ``outcome_unknown`` instead of risking a second
message.

========================================  ============  ============  ===========
failure                                   aiohttp       httpx         httptools
========================================  ============  ============  ===========
refused, DNS, TLS handshake, certificate  Connect [1]   Connect [2]   Connect [1]
proxy refused, proxy answered non-2xx to  Connect [1]   Connect [2]   (no proxy)
CONNECT (407, 502: target unreachable)
connect timeout, pool-acquire timeout     Connect [1]   Connect [2]   Connect [1]
total deadline before headers went out    Connect [1]   Connect [1]   Connect [1]
total deadline after headers went out     Timeout [1]   Timeout [1]   Timeout [1]
read timeout, slow body                   Timeout [1]   Timeout [3]   Timeout [1]
disconnect before/while answering         Timeout [1]   Timeout [3]   Timeout [1]
write error, protocol error, bad gzip     Timeout [1]   Timeout [3]   Timeout [1]
invalid URL (a configuration bug)         Connect [1]   Connect [2]   Connect [1]
========================================  ============  ============  ===========

[1] the flag: ``WawpTimeout`` once writing may have started, else ``WawpConnectError``.
    aiohttp: a timer that cancels the call at ``timeout_s`` (as ``asyncio.timeout`` does), and
    the connector's ``ClientTimeout(connect=min(connect_timeout_s, timeout_s))``, which covers
    the pool wait plus the connection (proxy tunnel included). aiohttp's CONNECT happens inside
    the connector, before the flag is set; its failures are ``ClientProxyConnectionError`` /
    ``ClientHttpProxyError``, its TLS ones ``ClientConnectorCertificateError`` /
    ``ClientConnectorSSLError``. httpx:
    ``asyncio.timeout(timeout_s)`` around the call, with httpx's phase timeouts inside it.
    httptools: ``connect_timeout_s`` covers the pool wait plus the connection, inside
    ``timeout_s`` for the whole call; it decompresses nothing.
[2] httpx ``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``, ``ProxyError``,
    ``UnsupportedProtocol``, ``InvalidURL``: raised before any byte of the request is written;
    the flag must agree (it always has).
[3] ``WriteError``, ``WriteTimeout``, ``ReadError``, ``ReadTimeout``, ``RemoteProtocolError``,
    ``DecodingError``; any other ``httpx.TransportError`` follows the flag.

A plain-HTTP Wawp URL behind a proxy is forwarded by the proxy, not tunnelled: a proxy's own
error answer (502) then reads as Wawp's. Wawp is HTTPS, where every proxy failure is a failed
CONNECT.

Secrets: Wawp's ``access_token`` travels in the query string, the proxy's password in its URL,
and both libraries put full URLs into their exception messages (``Connection timeout to host
http://...?access_token=...``) and httpx into its INFO log line. So every stack builds its errors
from safe parts only (``transport_error``: method, host:port, path with digit runs masked,
exception class names, errno names) and raises them outside the ``except`` block with ``from
None``: neither ``__cause__`` nor ``__context__`` keeps the library's exception, whose text and
``request`` attribute hold the URL, and ``logging`` with ``exc_info`` prints the chain. The httpx
stack installs a redacting filter on the httpx and httpcore loggers (``httpx_stack``). aiohttp's
client and the httptools stack log no URLs.
"""

from __future__ import annotations

import errno
import functools
import re
import socket
import ssl
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlsplit

from wawp_gateway.core.errors import WawpConnectError, WawpTimeout
from wawp_gateway.core.values import immutable

__all__ = [
    "ACCEPT_HEADERS",
    "JSON_HEADERS",
    "KEEPALIVE_S",
    "USER_AGENT",
    "HttpRequest",
    "HttpResponse",
    "HttpTransport",
    "MergedHeaders",
    "SendProgress",
    "merge_headers",
    "query_string",
    "request_head",
    "tls_context",
    "transport_error",
    "url_with_query",
]

# Shorter than common server keep-alive timeouts (nginx 75 s, Apache 5-15 s with WordPress
# hosts at the low end): a connection we reuse is then unlikely to be one the server is closing,
# which would turn a harmless reuse race into a "maybe processed" failure.
KEEPALIVE_S: Final = 4.0
USER_AGENT: Final = "wawp-gateway"
JSON_HEADERS: Final = {"accept": "application/json", "content-type": "application/json"}
ACCEPT_HEADERS: Final = {"accept": "application/json"}
# Phone numbers end up in paths (``/chats/447441429009%40c.us/messages``); error messages mask them.
_DIGIT_RUN: Final = re.compile(r"\d{6,}")


# Percent-encoding as quote(value, safe="") does it (not quote_plus): every byte of the UTF-8
# form but A-Z a-z 0-9 _ . - ~ is escaped, so no server has to guess whether "+" means a space,
# and yarl's/httpx's re-quoting leaves the string unchanged. Done by str.translate over the
# bytes read as latin-1, one C loop: urllib's quote builds a list of every byte and was the
# transport's largest cost after the HTTP client itself (a few us per message text).
_UNRESERVED: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
)
_PERCENT: Final = {byte: None if byte in _UNRESERVED else f"%{byte:02X}" for byte in range(256)}
_ESCAPES: Final = {byte: text for byte, text in _PERCENT.items() if text is not None}


def _escape(value: str) -> str:
    return value.encode().decode("latin-1").translate(_ESCAPES)


# Short values are cached: keys, instance ids, tokens and chat ids repeat on every call. Longer
# ones (message texts, up to the params' 64 KiB) are rarely repeated, and a cache of them would
# hold that much each.
_escape_short: Final = functools.lru_cache(maxsize=16_384)(_escape)
_CACHED_UP_TO = 96


def _quote(value: str) -> str:
    return _escape_short(value) if len(value) <= _CACHED_UP_TO else _escape(value)


@immutable
class HttpRequest:
    """One Wawp call, fully prepared by the client. ``repr`` hides query values and the body."""

    method: str  # GET POST PUT DELETE PATCH
    url: str  # absolute URL without query string, path already percent-encoded
    query: tuple[tuple[str, str], ...]  # flattened query pairs, auth included
    body: bytes | None  # pre-serialized JSON body or None
    timeout_s: float  # total time of the call
    # Fields beside accept/content-type, lower-case names: the W3C trace context
    # (docs/contract.md "Trace context"). Sent by every stack.
    headers: tuple[tuple[str, str], ...] = ()

    def header_fields(self) -> dict[str, str]:
        """accept (and content-type with a body), then ``headers``."""
        fields = dict(ACCEPT_HEADERS if self.body is None else JSON_HEADERS)
        fields.update(self.headers)
        return fields

    def __repr__(self) -> str:
        keys = tuple(key for key, _ in self.query)
        size = "None" if self.body is None else f"<{len(self.body)} bytes>"
        return (
            f"HttpRequest({_safe_target(self.method, self.url)!r}, query_keys={keys!r}, "
            f"body={size}, timeout_s={self.timeout_s!r})"
        )

    def full_url(self) -> str:
        """The URL with its query; ``%20`` for spaces and ``%5B``/``%5D`` for ``file[url]``."""
        return url_with_query(self.url, self.query)


def url_with_query(url: str, query: tuple[tuple[str, str], ...]) -> str:
    """``url?a=1&b=%20x``, or ``url`` alone when there is no query."""
    if not query:
        return url
    return f"{url}?{query_string(query)}"


def query_string(query: tuple[tuple[str, str], ...]) -> str:
    """``a=1&b=%20x``: every pair percent-encoded, in order."""
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query)


_BODYLESS_METHODS: Final = frozenset({"GET", "DELETE", "HEAD", "OPTIONS"})


def request_head(request: HttpRequest, host: str, target: str, fields: str = "") -> bytes:
    """The request line and header fields of ``request`` as HTTP/1.1 bytes, for the stacks that
    write their requests themselves. ``target``: the path and query (or the absolute URL for a
    forwarding proxy); ``fields``: more header lines, each ending in CRLF.

    Names in their usual case: they are case-insensitive, but some proxies match them as
    written (proxy.py adds a second Content-Length beside a ``content-length``)."""
    if request.body is not None:
        framing = f"Content-Type: application/json\r\nContent-Length: {len(request.body)}\r\n"
    elif request.method in _BODYLESS_METHODS:
        framing = ""
    else:
        framing = "Content-Length: 0\r\n"
    extra = "".join(f"{name}: {value}\r\n" for name, value in request.headers)
    return (
        f"{request.method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        f"Accept: application/json\r\n{framing}{fields}{extra}\r\n"
    ).encode("ascii")


@immutable
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


class SendProgress:
    """Per-request evidence: set before the first request byte can reach the socket."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The client TLS context of every stack: the system's CAs, plus ``ca_file`` when given
    (``create_default_context(cafile=...)`` alone would trust that file *instead*)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


def transport_error(request: HttpRequest, exc: BaseException, *, sent: bool) -> Exception:
    """The one error for a call that got no answer, built from safe parts only (no URL, query
    or message text); raise it outside the ``except`` block, ``from None``."""
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


class MergedHeaders(Mapping[str, str]):
    """``merge_headers(items)``, done when first read: most answers' headers never are (only a
    429's Retry-After is). ``items`` must stay readable: a list, or a live response's view."""

    __slots__ = ("_items", "_merged")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = items
        self._merged: dict[str, str] | None = None

    def _fields(self) -> dict[str, str]:
        if self._merged is None:
            self._merged = merge_headers(self._items)
        return self._merged

    def __getitem__(self, name: str) -> str:
        return self._fields()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())


def merge_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header fields as one mapping with lower-case names."""
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        # RFC 9110 5.3: a repeated field is equivalent to one with the values comma-joined.
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
