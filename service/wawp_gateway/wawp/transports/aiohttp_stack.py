"""The ``aiohttp`` HTTP stack (the default): aiohttp's connector and its pool, TLS verified
against the system's CAs plus ``GATEWAY_WAWP__CA_FILE``, every call through
``GATEWAY_WAWP__PROXY_URL`` when set (a CONNECT tunnel per pooled HTTPS connection).

aiohttp does the edge's work: the pool, DNS (cached, with address racing), the proxy's CONNECT,
TLS, and reading the answer (its C parser: lengths, chunks, interim answers, gzip and deflate).
The request itself is written here (``base.request_head``), as the httptools stack writes it.

Evidence for the two failure kinds (``base``): the request is marked "sent" once aiohttp's
connector handed out an established connection (pool wait, DNS, TCP, the proxy's CONNECT and
TLS done) and before its first byte is written.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any, Final

import aiohttp
import yarl
from aiohttp import hdrs
from aiohttp.helpers import TimerNoop
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import EofStream
from pydantic import SecretStr

from wawp_gateway.wawp.transports.base import (
    KEEPALIVE_S,
    USER_AGENT,
    HttpRequest,
    HttpResponse,
    MergedHeaders,
    SendProgress,
    request_head,
    tls_context,
    transport_error,
    url_with_query,
)

__all__ = ["AiohttpTransport"]


@functools.lru_cache(maxsize=256)
def _url_parts(url: str) -> tuple[str, str, str]:
    """Scheme, authority and path of a request URL without its query: a handful of them (the
    v1 and v2 roots' action paths) take nearly every call."""
    parsed = yarl.URL(url, encoded=True)
    return parsed.scheme, parsed.raw_authority, parsed.raw_path or "/"


# As ClientSession's defaults (its read_bufsize is not set_response_params' default).
_READ_BUFSIZE: Final = 2**16
_CEIL_THRESHOLD_S: Final = 5  # TCPConnector's, not changed here
_NO_TRACES: Final[list[Any]] = []
_NO_TIMER: Final = TimerNoop()  # the call's deadline is send()'s
# The CONNECT names the gateway too (ClientRequest copies them; aiohttp adds Host).
_PROXY_HEADERS: Final = {"user-agent": USER_AGENT}
_JOINED_UP_TO: Final = 64 * 1024
# What ClientSession asks for; aiohttp's parser decodes either.
_ACCEPT_ENCODING: Final = "Accept-Encoding: gzip, deflate\r\n"


class _Origin:
    """Where calls to one scheme://host:port go: the request the connector picks and opens a
    pooled connection for (its key: host, port, TLS, proxy), and the Host field."""

    __slots__ = ("forwarded", "host", "key_request", "prefix")

    def __init__(self, key_request: aiohttp.ClientRequest, *, forwarded: bool) -> None:
        self.key_request = key_request
        self.host = key_request.headers[hdrs.HOST]
        # Plain HTTP through a proxy is forwarded, not tunnelled: the request names the whole
        # URL and carries the proxy's credentials itself.
        self.forwarded = forwarded
        self.prefix = f"{key_request.url.scheme}://{key_request.url.raw_authority}"


class _Deadline:
    """Cancels its task when the call's time is up. ``settle()``, once the call is over, takes
    that cancellation back (once) and says whether it was the only one: a revoke's or the
    shutdown's cancellation meanwhile must go on as a cancellation, not become a timeout."""

    __slots__ = ("_cancelling", "_expired", "_settled", "_task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        self._settled: bool | None = None

    def expire(self) -> None:
        self._expired = True
        self._task.cancel()

    def settle(self) -> bool:
        if not self._expired:
            return False
        if self._settled is None:
            self._settled = self._task.uncancel() <= self._cancelling
        return self._settled


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
        self._proxy_url: yarl.URL | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._origins: dict[tuple[str, str], _Origin] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("transport is closed")
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,  # one host; `limit` is the bound
            keepalive_timeout=KEEPALIVE_S,
            ssl=self._tls,
        )
        if self._proxy is not None:
            self._proxy_url = yarl.URL(self._proxy.get_secret_value())
        # The session owns the connector and is what requests and answers belong to; the
        # exchange itself is ``_exchange``'s (no cookie jar, redirects or hidden retries).
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
        )
        return self._session

    def __repr__(self) -> str:
        if self._proxy is None:
            proxy = "none"
        else:
            url = yarl.URL(self._proxy.get_secret_value())
            proxy = f"{url.host}:{url.port}"
        return f"AiohttpTransport(max_connections={self._max_connections}, proxy={proxy})"

    def _connect_timeout(self, timeout_s: float) -> aiohttp.ClientTimeout:
        """The connector's bound on the pool wait plus the connection; the call's whole deadline
        is ``send()``'s timer. A handful of distinct values per process: cached."""
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(connect=min(self._connect_timeout_s, timeout_s))
            self._timeouts[timeout_s] = timeout
        return timeout

    async def send(self, request: HttpRequest) -> HttpResponse:
        session = self._session or self._open()
        progress = SendProgress()
        # The call's deadline, as asyncio.timeout() keeps it (cancel the task, then tell that
        # cancellation from any other by the task's cancel count) at a third of its CPU: one
        # timer per call, and asyncio.timeout was ~2% of the worker's CPU per command.
        task = asyncio.current_task()
        assert task is not None  # send() runs in a task
        deadline = _Deadline(task)
        timer = asyncio.get_running_loop().call_later(request.timeout_s, deadline.expire)
        try:
            return await self._exchange(session, request, progress)
        except asyncio.CancelledError:
            if not deadline.settle():
                raise
            error = transport_error(request, TimeoutError(), sent=progress.sent)
        # TimeoutError is an OSError; the parser's own errors come out of protocol.read() as
        # they are (ClientResponse would wrap them).
        except (aiohttp.ClientError, OSError, HttpProcessingError, EofStream) as exc:
            error = transport_error(request, exc, sent=progress.sent)
        finally:
            timer.cancel()
            deadline.settle()
        # Raised here, outside the except block, and from None: aiohttp's exception (whose
        # message and request_info hold the URL with the token) stays out of __cause__ and
        # __context__, so no traceback or exc_info log can print it.
        raise error from None

    def _origin(self, session: aiohttp.ClientSession, scheme: str, authority: str) -> _Origin:
        origin = self._origins.get((scheme, authority))
        if origin is None:
            url = yarl.URL.build(scheme=scheme, authority=authority, encoded=True)
            connector = session.connector
            assert connector is not None  # the session made here always has one
            if url.scheme not in connector.allowed_protocol_schema_set:
                raise aiohttp.NonHttpUrlClientError(url)
            key_request = self._key_request(session, url)
            if self._proxy_url is not None:
                # The connector sets the proxy's Host field on each connect through the proxy,
                # and the proxy's fields are part of the pool's key: given from the start, the
                # key every call uses stays the one its pooled connections were filed under.
                host = {hdrs.HOST: key_request.headers[hdrs.HOST]}
                key_request = self._key_request(session, url, _PROXY_HEADERS | host)
            origin = _Origin(
                key_request, forwarded=key_request.proxy is not None and scheme == "http"
            )
            self._origins[(scheme, authority)] = origin
        return origin

    def _key_request(
        self,
        session: aiohttp.ClientSession,
        url: yarl.URL,
        proxy_headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientRequest:
        return aiohttp.ClientRequest(
            "GET",
            url,
            loop=asyncio.get_running_loop(),
            proxy=None if proxy_headers is None else self._proxy_url,
            proxy_headers=proxy_headers,
            timer=_NO_TIMER,
            session=session,
            ssl=self._tls,
            traces=_NO_TRACES,
        )

    def _head(self, request: HttpRequest, origin: _Origin, path: str) -> bytes:
        target = url_with_query(path, request.query)
        fields = _ACCEPT_ENCODING
        if origin.forwarded:
            target = origin.prefix + target
            assert self._proxy_url is not None  # forwarded only through a proxy
            auth = aiohttp.BasicAuth.from_url(self._proxy_url)
            if auth is not None:
                fields += f"Proxy-Authorization: {auth.encode()}\r\n"
        return request_head(request, origin.host, target, fields)

    async def _exchange(
        self, session: aiohttp.ClientSession, request: HttpRequest, progress: SendProgress
    ) -> HttpResponse:
        """One request on a connection from aiohttp's connector (its pool, DNS, the proxy's
        CONNECT, TLS), written by the gateway, its answer read by aiohttp's parser.

        ``ClientSession.request`` would add what the gateway never uses (cookies, auth,
        redirects, traces, a task per request body) and a silent second send of an idempotent
        request on a reused connection that turns out closed (every call must count as an
        attempt and take a rate token, and a disconnect after sending must surface as "maybe
        processed"). 0.024 against bare ``session.post``'s 0.072 ms of CPU per call at 64 in
        flight (bench/README.md, "HTTP stacks").
        ``tests/unit/test_transport.py`` pins the aiohttp calls this relies on."""
        scheme, authority, path = _url_parts(request.url)
        origin = self._origin(session, scheme, authority)
        head = self._head(request, origin, path)
        connector = session.connector
        assert connector is not None  # as in _origin
        conn = await connector.connect(
            origin.key_request, _NO_TRACES, self._connect_timeout(request.timeout_s)
        )
        try:
            protocol = conn.protocol
            transport = None if protocol is None else protocol.transport
            # Closed by the peer before a byte was written (uvloop refuses a write on a closed
            # transport): not sent. Nothing awaits between this check and the write.
            if protocol is None or transport is None or transport.is_closing():
                raise aiohttp.ServerDisconnectedError()
            protocol.set_response_params(
                timer=_NO_TIMER,
                skip_payload=request.method == "HEAD",
                # A body with neither a length nor chunks ends where the connection does.
                read_until_eof=True,
                read_bufsize=_READ_BUFSIZE,
                timeout_ceil_threshold=_CEIL_THRESHOLD_S,
            )
            # Established (proxy tunnel and TLS included), nothing written yet: from here on a
            # failure may follow a request that reached Wawp.
            progress.sent = True
            # No drain: the transport buffers what the socket does not take (a request is at
            # most the params' media size, already held in memory). One write for the usual
            # small request; a large body is not copied to be joined to its head.
            body = request.body
            if body is None:
                transport.write(head)
            elif len(body) <= _JOINED_UP_TO:
                transport.write(head + body)
            else:
                transport.writelines((head, body))
            while True:  # an interim 1xx answer is followed by the real one (as aiohttp reads)
                message, payload = await protocol.read()
                if not 100 <= message.code <= 199 or message.code == 101:
                    break
            answer = await payload.read()
        except BaseException:
            conn.close()
            raise
        # Back to the pool, unless the answer or the protocol says the connection must close.
        conn.release()
        return HttpResponse(message.code, MergedHeaders(message.headers.items()), answer)

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
