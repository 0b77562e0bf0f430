"""The ``httptools`` HTTP stack: HTTP/1.1 keep-alive connections on asyncio protocols.

A Wawp call needs little of an HTTP client: one origin, a request line with a query, a JSON body
or none, and an answer framed by Content-Length, chunked encoding or the connection's end. This
stack does just that, with llhttp (Node.js's parser, through ``httptools``) reading the answers,
and spends a fraction of aiohttp's CPU per call (``bench/http_stacks.py``; bench/README.md
"HTTP stacks"). It does no redirects, cookies, compression or retries: none of them is wanted for
Wawp (a retry must be the engine's, counted and paced). It does no proxy either: the settings
refuse ``GATEWAY_WAWP__PROXY_URL`` with this stack, which is why it is an opt-in for deployments
that reach Wawp directly. TLS is verified against the system's CAs plus
``GATEWAY_WAWP__CA_FILE``. Each new connection resolves its host through the event loop's
``getaddrinfo`` and tries the first address only (no DNS cache, no address racing).

Evidence for the two failure kinds (``base``): a request is "sent" from the moment its
first byte is handed to a connection; before that (pool wait, DNS, TCP, TLS) any failure is
``WawpConnectError``, after it ``WawpTimeout``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast
from urllib.parse import urlsplit

import httptools

from wawp_gateway.wawp.transports.base import (
    KEEPALIVE_S,
    HttpRequest,
    HttpResponse,
    MergedHeaders,
    request_head,
    tls_context,
    transport_error,
    url_with_query,
)

__all__ = ["HttptoolsTransport"]

# Larger answers are refused (the call ends "maybe processed"): no Wawp answer comes near it,
# and a misbehaving peer must not grow the worker without bound.
_MAX_BODY: Final = 64 * 1024 * 1024
_MAX_HEADERS: Final = 256


class _ProtocolError(ConnectionError):
    """The peer broke HTTP/1.1 (unparsable answer, oversized body, bytes nobody asked for)."""


@dataclass(frozen=True, slots=True)
class _Origin:
    tls: bool
    host: str
    port: int
    host_header: str


@functools.lru_cache(maxsize=8_192)
def _split(url: str) -> tuple[_Origin, str]:
    """Origin and encoded path of an absolute URL (the client builds a few per instance)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
    tls = parts.scheme == "https"
    default = 443 if tls else 80
    port = parts.port or default
    host = parts.hostname
    name = host.encode("idna").decode("ascii")
    bracketed = f"[{name}]" if ":" in name else name
    header = bracketed if port == default else f"{bracketed}:{port}"
    return _Origin(tls, host, port, header), parts.path or "/"


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one exchange at a time; llhttp frames the answers."""

    def __init__(self, pool: HttptoolsTransport, origin: _Origin) -> None:
        self.pool = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.keep_alive = False
        self.holds_slot = True
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[HttpResponse] | None = None
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._status = 0
        self._until_eof = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: no isinstance check.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self._fail(_ProtocolError("bytes outside an exchange"))
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            # An upgrade (101) is no answer to a Wawp call either.
            self._fail(_ProtocolError(type(exc).__name__))

    def eof_received(self) -> bool:
        return False  # closes the transport: connection_lost settles the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is not None and not answer.done():
            if exc is None and self._until_eof:
                self._complete(keep_alive=False)
            else:
                answer.set_exception(exc or ConnectionResetError("closed before answering"))
        self.pool.lost(self)

    # -- llhttp callbacks ------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self._headers) >= _MAX_HEADERS:
            self._fail(_ProtocolError("too many header fields"))
            return
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        names = {name.lower() for name, _ in self._headers}
        self._until_eof = (
            "content-length" not in names
            and "transfer-encoding" not in names
            and self._status not in (204, 304)
            and self._status >= 200
        )

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > _MAX_BODY:
            self._fail(_ProtocolError("answer too large"))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:  # 1xx: informational, the answer follows
            self._headers.clear()
            return
        self._complete(keep_alive=self._parser.should_keep_alive())

    # -- exchange --------------------------------------------------------------------------------

    def exchange(self, data: bytes) -> asyncio.Future[HttpResponse]:
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._headers = []
        self._body = []
        self._size = 0
        self._until_eof = False
        self.keep_alive = False
        self.transport.write(data)
        return self._answer

    def _complete(self, *, keep_alive: bool) -> None:
        answer = self._answer
        if answer is None or answer.done():
            return
        self.keep_alive = keep_alive and not self.closed
        answer.set_result(
            HttpResponse(self._status, MergedHeaders(self._headers), b"".join(self._body))
        )

    def _fail(self, error: Exception) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttptoolsTransport:
    """A pool of ``_Connection``: at most ``max_connections`` open or opening, idle ones reused
    newest first and closed after ``KEEPALIVE_S``, callers queued in order when all are busy.

    ``connect_timeout_s`` covers the wait for a pool slot plus the TCP and TLS handshakes (as
    aiohttp's ``connect``); the request's ``timeout_s`` covers the whole call."""

    def __init__(
        self, *, max_connections: int, connect_timeout_s: float, ca_file: Path | None = None
    ) -> None:
        self._max = max_connections
        self._ca_file = ca_file
        self._connect_timeout_s = connect_timeout_s
        self._open = 0  # slots held: connections open, opening, or promised to a waiter
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self._closed = False
        self._tls: ssl.SSLContext | None = None

    async def send(self, request: HttpRequest) -> HttpResponse:
        if self._closed:
            raise RuntimeError("transport is closed")
        sent = False
        reusable = False
        connection: _Connection | None = None
        try:
            origin, path = _split(request.url)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + request.timeout_s
            async with asyncio.timeout_at(deadline):
                connection = self._idle_connection(origin, loop.time())
                if connection is None:
                    connect_by = min(deadline, loop.time() + self._connect_timeout_s)
                    async with asyncio.timeout_at(connect_by):
                        connection = await self._new_connection(origin)
                sent = True
                target = url_with_query(path, request.query)
                head = request_head(request, origin.host_header, target)
                response = await connection.exchange(head + (request.body or b""))
                reusable = connection.keep_alive
        except (OSError, ValueError, UnicodeError) as exc:  # TimeoutError is an OSError
            error = transport_error(request, exc, sent=sent)
        else:
            return response
        finally:
            # Whatever ended the call (answer, failure, cancellation) gives the connection back;
            # only a complete keep-alive answer leaves it reusable.
            if connection is not None:
                self._give_back(connection, reusable=reusable)
        raise error from None

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError("transport is closed"))

    # -- pool ------------------------------------------------------------------------------------

    def _idle_connection(self, origin: _Origin, now: float) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            transport = connection.transport
            if (
                not connection.closed
                and transport is not None
                and not transport.is_closing()
                and now - connection.idle_since <= KEEPALIVE_S
            ):
                return connection
            self._give_back(connection, reusable=False)  # frees its slot, once
        return None

    async def _new_connection(self, origin: _Origin) -> _Connection:
        if self._open >= self._max:
            handed = await self._wait_for_slot()
            if handed is not None:
                if handed.origin == origin and not handed.closed:
                    return handed
                self._give_back(handed, reusable=False, keep_slot=True)
        else:
            self._open += 1
        try:
            loop = asyncio.get_running_loop()
            _, connection = await loop.create_connection(
                lambda: _Connection(self, origin),
                origin.host,
                origin.port,
                ssl=self._tls_context() if origin.tls else None,
                server_hostname=origin.host if origin.tls else None,
            )
        except BaseException:
            self._free_slot()
            raise
        return connection

    async def _wait_for_slot(self) -> _Connection | None:
        """A connection handed over by a finished call, or None: a slot to open one with."""
        waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # handed over just as this caller gave up: pass it on
                if handed is None:
                    self._free_slot()
                else:
                    self._give_back(handed, reusable=not handed.closed)
            raise

    def _give_back(
        self, connection: _Connection, *, reusable: bool, keep_slot: bool = False
    ) -> None:
        if reusable and not connection.closed and not self._closed:
            waiter = self._next_waiter()
            if waiter is not None:
                waiter.set_result(connection)
                return
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.setdefault(connection.origin, []).append(connection)
            return
        connection.close()
        if connection.holds_slot:
            connection.holds_slot = False
            if not keep_slot:
                self._free_slot()

    def lost(self, connection: _Connection) -> None:
        """The peer closed ``connection``: an idle one leaves the pool now."""
        idle = self._idle.get(connection.origin)
        if idle is not None and connection in idle:
            idle.remove(connection)
            self._give_back(connection, reusable=False)

    def _free_slot(self) -> None:
        waiter = self._next_waiter()
        if waiter is not None:
            waiter.set_result(None)  # the slot passes to the first waiter
        else:
            self._open -= 1

    def _next_waiter(self) -> asyncio.Future[_Connection | None] | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = tls_context(self._ca_file)
        return self._tls
