"""The ``aiohttp`` HTTP stack (the default): one ``ClientSession`` and its pool, TLS verified
against the system's CAs plus ``GATEWAY_WAWP__CA_FILE``, every call through
``GATEWAY_WAWP__PROXY_URL`` when set (a CONNECT tunnel per pooled HTTPS connection).

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
from aiohttp.helpers import TimerNoop
from multidict import istr
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


# As ClientSession's defaults (its read_bufsize is not set_response_params' default).
_READ_BUFSIZE: Final = 2**16
_CEIL_THRESHOLD_S: Final = 5  # TCPConnector's, not changed here
_SKIP_AUTO_HEADERS: Final = frozenset({istr("content-type")})
_NO_TRACES: Final[list[Any]] = []
# The CONNECT names the gateway too (ClientRequest copies them; aiohttp adds Host).
_PROXY_HEADERS: Final = {"user-agent": USER_AGENT}


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
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            error = transport_error(request, exc, sent=progress.sent)
        finally:
            timer.cancel()
            deadline.settle()
        # Raised here, outside the except block, and from None: aiohttp's exception (whose
        # message and request_info hold the URL with the token) stays out of __cause__ and
        # __context__, so no traceback or exc_info log can print it.
        raise error from None

    async def _exchange(
        self, session: aiohttp.ClientSession, request: HttpRequest, progress: SendProgress
    ) -> HttpResponse:
        """One request on a pooled connection, the way ``ClientSession.request`` makes it,
        without what the gateway never uses: cookies, auth, redirects, traces, and the silent
        second send of an idempotent request on a reused connection that turns out closed
        (every call must count as an attempt and take a rate token, and a disconnect after
        sending must surface as "maybe processed"). ~0.015 ms of CPU less per call than through
        ``ClientSession.request`` (bench/README.md, "HTTP stacks"). ``tests/unit/test_transport.py``
        pins the aiohttp calls this relies on."""
        url = _encoded_url(request.url, request.query)
        connector = session.connector
        assert connector is not None  # the session made here always has one
        if url.scheme not in connector.allowed_protocol_schema_set:
            raise aiohttp.NonHttpUrlClientError(url)
        timer = TimerNoop()  # the call's deadline is send()'s
        headers = {"user-agent": USER_AGENT} | request.header_fields()
        req = aiohttp.ClientRequest(
            request.method,
            url,
            headers=headers,
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            data=request.body,
            loop=asyncio.get_running_loop(),
            proxy=self._proxy_url,
            proxy_headers=_PROXY_HEADERS if self._proxy_url is not None else None,
            timer=timer,
            session=session,
            ssl=self._tls,
            traces=_NO_TRACES,
        )
        conn = await connector.connect(req, _NO_TRACES, self._connect_timeout(request.timeout_s))
        try:
            protocol = conn.protocol
            assert protocol is not None  # a connection just handed out has one
            protocol.set_response_params(
                timer=timer,
                skip_payload=request.method == "HEAD",
                # A body with neither a length nor chunks ends where the connection does.
                read_until_eof=True,
                read_bufsize=_READ_BUFSIZE,
                timeout_ceil_threshold=_CEIL_THRESHOLD_S,
            )
            # Established (proxy tunnel and TLS included), nothing written yet: from here on a
            # failure may follow a request that reached Wawp.
            progress.sent = True
            response = await req.send(conn)
            try:
                await response.start(conn)
            except BaseException:
                response.close()
                raise
        except BaseException:
            conn.close()
            raise
        try:
            body = await response.read()
            return HttpResponse(response.status, MergedHeaders(response.headers.items()), body)
        finally:
            response.release()
            await response.wait_for_close()

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
