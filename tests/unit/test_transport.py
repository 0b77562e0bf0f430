"""The HTTP stacks against real local servers: answers, TLS with a test CA, the two failure kinds,
no secrets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import json
import logging
import socket
import ssl
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import parse_qsl

import pytest

from egress import TestCA, make_test_ca
from wawp_gateway.core.errors import WawpConnectError, WawpError, WawpTimeout
from wawp_gateway.core.sections import HttpStack
from wawp_gateway.wawp.transports.base import HttpRequest, HttpResponse, HttpTransport
from wawp_gateway.wawp.transports.factory import build_transport

STACKS: tuple[HttpStack, ...] = get_args(HttpStack)
Mode = Literal["answer", "close", "hang", "garbage", "once", "eof", "chunked", "interim", "gzip"]


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class RawServer:
    """A tiny HTTP/1.1 server on port 0 that answers, hangs, or misbehaves as the test says.

    answer: 201 + JSON after reading the request (keep-alive); close: reads the request, then
    closes without a byte; hang: reads the request and answers 200 only once `release` is set;
    garbage: writes a non-HTTP, non-TLS line on connect and closes; once: answers a connection's
    first request (keep-alive), reads the next and closes without a byte; eof: answers with
    neither a length nor chunks, the body ending where the connection closes; chunked: answers
    in chunks; interim: a 100 Continue first, then the answer; gzip: the answer gzip-encoded
    when the request accepts it.
    """

    def __init__(self, mode: Mode = "answer", *, tls: ssl.SSLContext | None = None) -> None:
        self.mode = mode
        self.tls = tls
        self.requests: list[Seen] = []
        self.received = asyncio.Event()
        self.release = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self.release.set()
        self._server.close()
        await self._server.wait_closed()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, path: str = "/v2/send/text", scheme: str | None = None) -> str:
        scheme = scheme or ("http" if self.tls is None else "https")
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, ssl.SSLError):
            pass  # the client gave up first (or refused our certificate): expected in tests
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._writers.discard(writer)
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "garbage":
            writer.write(b"this is neither HTTP nor TLS\r\n\r\n")
            await writer.drain()
            return
        answered = False
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, _ = line.split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (h.partition(":") for h in header_lines if h)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Seen(method, target, headers, body))
            self.received.set()
            if self.mode == "close" or (self.mode == "once" and answered):
                return
            answered = True
            if self.mode == "eof":
                writer.write(
                    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"sent": true}'
                )
                await writer.drain()
                return
            if self.mode == "hang":
                await self.release.wait()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            elif self.mode in ("chunked", "interim", "gzip"):
                writer.write(self._framed(headers.get("accept-encoding", "")))
            else:
                payload = b'{"id": "true_447441429009@c.us_3EB0"}'
                writer.write(
                    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                    b"X-Request-Id: req-1\r\nX-Multi: a\r\nX-Multi: b\r\n"
                    + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
            await writer.drain()

    def _framed(self, accepted: str) -> bytes:
        body = ANSWER_BODY
        if self.mode == "chunked":
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:10], body[10:]))
            return (
                b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunks
                + b"0\r\n\r\n"
            )
        interim = b"HTTP/1.1 100 Continue\r\n\r\n" if self.mode == "interim" else b""
        encoding = b""
        if self.mode == "gzip" and "gzip" in accepted:
            body, encoding = gzip.compress(body), b"Content-Encoding: gzip\r\n"
        return (
            interim
            + b"HTTP/1.1 201 Created\r\n"
            + encoding
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )


ANSWER_BODY = b'{"id": "true_447441429009@c.us_3EB0", "padding": "' + b"x" * 200 + b'"}'


@pytest.fixture
def token() -> str:
    return f"SECRET-{uuid.uuid4().hex}"


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> HttpStack:
    stack: HttpStack = request.param
    return stack


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


def server_tls(ca: TestCA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(ca.server.certfile, ca.server.keyfile)
    return context


@contextlib.asynccontextmanager
async def opened(
    stack: HttpStack,
    *,
    max_connections: int = 4,
    connect_timeout_s: float = 2.0,
    ca_file: Path | None = None,
) -> AsyncIterator[HttpTransport]:
    transport = build_transport(
        stack, max_connections=max_connections, connect_timeout_s=connect_timeout_s, ca_file=ca_file
    )
    try:
        yield transport
    finally:
        await transport.aclose()


def make_request(
    url: str, token: str, *, method: str = "POST", timeout_s: float = 5.0, body: bool = True
) -> HttpRequest:
    return HttpRequest(
        method=method,
        url=url,
        query=(("instance_id", "ABC123DEF456"), ("access_token", token)),
        body=json.dumps({"chatId": "447441429009@c.us", "message": "hi"}).encode()
        if body
        else None,
        timeout_s=timeout_s,
    )


def chain(exc: BaseException) -> Iterator[BaseException]:
    """Every exception reachable through __cause__ and __context__."""
    todo, seen = [exc], set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


def assert_no_secret(exc: BaseException, token: str) -> None:
    for link in chain(exc):
        for text in (str(link), repr(link), repr(link.args), repr(vars(link))):
            assert token not in text
            assert "access_token" not in text
    assert token not in "".join(traceback.format_exception(exc))


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def expect_error(transport: HttpTransport, request: HttpRequest) -> WawpError:
    with pytest.raises(WawpError) as info:
        await transport.send(request)
    return info.value


async def test_answer_round_trips_method_query_body_and_headers(stack: HttpStack) -> None:
    """Query pairs (repeated keys, bracket names, spaces, '+', '&') and the body arrive intact."""
    query = (
        ("instance_id", "ABC123DEF456"),
        ("access_token", "tok/+="),
        ("chatId", "447441429009@c.us"),
        ("file[url]", "https://example.com/a b.png?x=1&y=2"),
        ("labels[]", "one"),
        ("labels[]", "two"),
        ("message", "héllo + wörld & more"),
    )
    body = json.dumps({"poll": {"name": "q", "options": ["a", "b"]}}).encode()
    async with RawServer() as server, opened(stack) as transport:
        response = await transport.send(
            HttpRequest("PUT", server.url("/v1/send"), query, body, timeout_s=5.0)
        )

    assert (response.status, response.body) == (201, b'{"id": "true_447441429009@c.us_3EB0"}')
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "req-1"
    assert response.headers["x-multi"] == "a, b"
    [seen] = server.requests
    path, _, raw_query = seen.target.partition("?")
    assert (seen.method, path) == ("PUT", "/v1/send")
    assert parse_qsl(raw_query, keep_blank_values=True, strict_parsing=True) == list(query)
    assert "file%5Burl%5D=" in raw_query
    assert "+" not in raw_query  # spaces are %20, a literal "+" is %2B: no decoder can differ
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.body == body


async def test_a_large_body_arrives_whole(stack: HttpStack, token: str) -> None:
    """A media-sized body (a few MiB of base64 in JSON) is sent whole after its head."""
    body = json.dumps({"file": "QUJD" * (3 * 2**20 // 4)}).encode()
    async with RawServer() as server, opened(stack) as transport:
        request = dataclasses.replace(make_request(server.url(), token), body=body)
        response = await transport.send(request)

    assert response.status == 201
    [seen] = server.requests
    assert seen.body == body
    assert seen.headers["content-length"] == str(len(body))


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_call_without_body_sends_no_content_type(
    stack: HttpStack, token: str, method: str
) -> None:
    """A body-less call (Wawp's v1 sends: everything in the query) carries no body and no
    Content-Type."""
    async with RawServer() as server, opened(stack) as transport:
        response = await transport.send(
            make_request(server.url(), token, method=method, body=False)
        )

    assert response.status == 201
    [seen] = server.requests
    assert seen.method == method
    assert seen.body == b""
    assert "content-type" not in seen.headers


async def test_the_requests_trace_headers_are_sent_by_every_stack(
    stack: HttpStack, token: str
) -> None:
    """The trace context the client puts on a request reaches the server, with or without a
    body (docs/contract.md "Trace context")."""
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    trace = (("traceparent", parent), ("tracestate", "vendor=x"))
    async with RawServer() as server, opened(stack) as transport:
        for body in (True, False):
            request = make_request(server.url(), token, method="POST" if body else "GET", body=body)
            await transport.send(dataclasses.replace(request, headers=trace))

    for seen in server.requests:
        assert seen.headers["traceparent"] == parent
        assert seen.headers["tracestate"] == "vendor=x"
        assert seen.headers["accept"] == "application/json"


async def test_refused_connection_is_not_sent(stack: HttpStack, token: str) -> None:
    """Nothing listens on the port: WawpConnectError, retryable, not maybe-processed."""
    async with opened(stack) as transport:
        url = f"http://127.0.0.1:{refused_port()}/v2/send/text"
        error = await expect_error(transport, make_request(url, token))

    assert type(error) is WawpConnectError
    assert (error.code, error.http_status, error.maybe_processed) == ("connect_error", None, False)
    assert "ECONNREFUSED" in str(error)
    assert_no_secret(error, token)


async def test_dns_failure_is_not_sent(stack: HttpStack, token: str) -> None:
    """A name that cannot resolve (RFC 6761 .invalid) never reaches anyone."""
    async with opened(stack, connect_timeout_s=2.0) as transport:
        error = await expect_error(
            transport, make_request("http://wawp-gateway-test.invalid/v2/send/text", token)
        )

    assert type(error) is WawpConnectError
    assert_no_secret(error, token)


async def test_tls_handshake_failure_is_not_sent(stack: HttpStack, token: str) -> None:
    """The peer does not speak TLS: the handshake fails before the request exists on the wire."""
    async with RawServer("garbage") as server, opened(stack) as transport:
        error = await expect_error(transport, make_request(server.url(scheme="https"), token))

    assert type(error) is WawpConnectError
    assert_no_secret(error, token)


async def test_tls_with_the_ca_file_answers(stack: HttpStack, test_ca: TestCA, token: str) -> None:
    """HTTPS to a server whose certificate a test CA issued: trusted through ca_file."""
    async with (
        RawServer(tls=server_tls(test_ca)) as server,
        opened(stack, ca_file=test_ca.ca_file) as transport,
    ):
        first = await transport.send(make_request(server.url(), token))
        second = await transport.send(make_request(server.url(), token, method="GET", body=False))

    assert (first.status, second.status) == (201, 201)
    assert [seen.method for seen in server.requests] == ["POST", "GET"]


async def test_untrusted_certificate_is_not_sent(
    stack: HttpStack, test_ca: TestCA, token: str
) -> None:
    """Without the CA, certificate verification fails before any request byte: connect_error."""
    async with RawServer(tls=server_tls(test_ca)) as server, opened(stack) as transport:
        error = await expect_error(transport, make_request(server.url(), token))

    assert type(error) is WawpConnectError
    assert "CERTIFICATE_VERIFY_FAILED" in str(error)
    assert server.requests == []
    assert_no_secret(error, token)


async def test_the_ca_file_adds_to_the_system_cas(test_ca: TestCA) -> None:
    """ca_file is trusted besides the system's CAs, not instead of them."""
    from wawp_gateway.wawp.transports.base import tls_context

    system = len(tls_context(None).get_ca_certs())
    assert len(tls_context(test_ca.ca_file).get_ca_certs()) == system + 1


def test_httptools_refuses_a_proxy() -> None:
    with pytest.raises(ValueError, match="does not support a proxy"):
        build_transport(
            "httptools",
            max_connections=1,
            connect_timeout_s=1.0,
            proxy_url="http://127.0.0.1:3128",
        )


async def test_connect_timeout_is_not_sent(stack: HttpStack, token: str) -> None:
    """A listener whose accept queue is full drops SYNs: the TCP connect itself times out."""
    with socket.socket() as listener, socket.socket() as filler:
        # Given a backlog of 0 (one pending slot on Linux), already taken by `filler`
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v2/send/text"
        async with opened(stack, connect_timeout_s=0.2) as transport:
            # When the request's own deadline is long, the connect timeout decides
            error = await expect_error(transport, make_request(url, token, timeout_s=5.0))

    assert type(error) is WawpConnectError
    assert_no_secret(error, token)


async def test_disconnect_after_request_is_maybe_processed(stack: HttpStack, token: str) -> None:
    """The server read the whole request, then closed without answering: it may have acted."""
    async with RawServer("close") as server, opened(stack) as transport:
        error = await expect_error(transport, make_request(server.url(), token))

    assert type(error) is WawpTimeout
    assert (error.code, error.http_status, error.maybe_processed) == ("timeout", None, True)
    assert len(server.requests) == 1
    assert_no_secret(error, token)


async def test_an_answer_ended_by_the_connection_closing_is_read_whole(
    stack: HttpStack, token: str
) -> None:
    """HTTP/1.1 allows a body delimited by the server closing the connection (no length, no
    chunks): it is the answer, read to its end."""
    async with RawServer("eof") as server, opened(stack) as transport:
        response = await transport.send(make_request(server.url(), token))

    assert response.status == 200
    assert json.loads(response.body) == {"sent": True}


@pytest.mark.parametrize("mode", ["chunked", "interim", "gzip"])
async def test_an_answer_framed_or_encoded_otherwise_is_read_as_sent(
    stack: HttpStack, token: str, mode: Mode
) -> None:
    """A chunked body, an interim 100 before the answer, and a body compressed as the request
    allowed (gzip, for a stack that asks for it) are each the one answer they carry; the
    connection then serves the next call."""
    async with RawServer(mode) as server, opened(stack, max_connections=1) as transport:
        answers = [await transport.send(make_request(server.url(), token)) for _ in range(2)]

    assert [(a.status, a.body) for a in answers] == [(201, ANSWER_BODY)] * 2
    assert len(server.requests) == 2


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_kept_alive_connection_closed_under_a_request_is_not_retried(
    stack: HttpStack, token: str, method: str
) -> None:
    """The second request on a pooled connection is read, then the connection closes: that call
    fails "maybe processed" and goes out once. (aiohttp's ClientSession would quietly send an
    idempotent one again on a new connection: a second, uncounted call.)"""
    async with RawServer("once") as server, opened(stack, max_connections=1) as transport:
        first = await transport.send(make_request(server.url(), token, method=method))
        error = await expect_error(transport, make_request(server.url(), token, method=method))

    assert first.status == 201
    assert type(error) is WawpTimeout
    assert len(server.requests) == 2
    assert_no_secret(error, token)


async def test_no_answer_within_the_deadline_is_maybe_processed(
    stack: HttpStack, token: str
) -> None:
    """The server holds the request past the call's total timeout."""
    async with RawServer("hang") as server, opened(stack) as transport:
        error = await expect_error(transport, make_request(server.url(), token, timeout_s=0.2))

    assert type(error) is WawpTimeout
    assert len(server.requests) == 1
    assert_no_secret(error, token)


async def test_a_call_cancelled_from_outside_stays_cancelled(stack: HttpStack, token: str) -> None:
    """A revoke or the shutdown cancels a call in flight: the caller sees the cancellation (it
    reports the command itself), not a transport error, and the transport keeps working."""
    async with RawServer("hang") as server, opened(stack) as transport:
        call = asyncio.create_task(transport.send(make_request(server.url(), token)))
        await server.received.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        server.release.set()
        server.mode = "answer"
        assert (await transport.send(make_request(server.url(), token))).status == 201


async def test_the_deadline_leaves_the_task_uncancelled(stack: HttpStack, token: str) -> None:
    """A call ended by its deadline takes its cancellation back: the caller's later awaits in
    the same task run as usual."""
    async with RawServer("hang") as server, opened(stack) as transport:
        error = await expect_error(transport, make_request(server.url(), token, timeout_s=0.1))
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0
        await asyncio.sleep(0)

    assert type(error) is WawpTimeout


async def test_pool_timeout_is_not_sent(stack: HttpStack, token: str) -> None:
    """With the only connection busy, a second call gives up waiting for it: never sent."""
    async with (
        RawServer("hang") as server,
        opened(stack, max_connections=1, connect_timeout_s=0.2) as transport,
    ):
        # Given one call holding the single connection
        first = asyncio.create_task(transport.send(make_request(server.url(), token)))
        await server.received.wait()
        # When a second call waits longer than connect_timeout_s for the pool
        error = await expect_error(transport, make_request(server.url(), token, timeout_s=5.0))
        # Then it failed unsent, and the first still completes once the server answers
        assert server.requests[1:] == []
        server.release.set()
        assert (await first).status == 200

    assert type(error) is WawpConnectError
    assert_no_secret(error, token)


async def test_total_deadline_while_waiting_for_the_pool(stack: HttpStack, token: str) -> None:
    """The call's deadline ends in the pool queue: every stack's evidence says "not sent"."""
    async with (
        RawServer("hang") as server,
        opened(stack, max_connections=1, connect_timeout_s=5.0) as transport,
    ):
        first = asyncio.create_task(transport.send(make_request(server.url(), token)))
        await server.received.wait()
        error = await expect_error(transport, make_request(server.url(), token, timeout_s=0.2))
        server.release.set()
        await first

    assert type(error) is WawpConnectError
    assert len(server.requests) == 1
    assert_no_secret(error, token)


async def test_logs_never_carry_the_token(
    stack: HttpStack, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, success and failure paths log no token (httpx's request line is redacted)."""
    caplog.set_level(logging.DEBUG)
    async with RawServer() as server, opened(stack) as transport:
        await transport.send(make_request(server.url(), token))
        refused = f"http://127.0.0.1:{refused_port()}/v2/send/text"
        error = await expect_error(transport, make_request(refused, token))
        logging.getLogger("test").error("wawp.request_failed", exc_info=error)

    assert token not in caplog.text
    assert all(token not in record.getMessage() for record in caplog.records)
    if stack.startswith("httpx"):  # the line is still there, without its query
        assert "HTTP Request: POST http://127.0.0.1:" in caplog.text
        assert "/v2/send/text?... " in caplog.text


def test_reprs_hide_query_values_and_bodies(token: str) -> None:
    """Logging a request or response object shows neither the token nor the message."""
    request = make_request("https://api.wawp.net/v1/chats/447441429009%40c.us/messages", token)

    text = repr(request) + repr(HttpResponse(200, {}, b'{"message": "hi"}'))

    assert token not in text
    assert "447441429009" not in text
    assert "hi" not in text.replace("HttpRequest", "").replace("HttpResponse", "")
    assert "access_token" in text  # the key names stay: they help debugging


async def test_aclose_is_idempotent_and_final(stack: HttpStack, token: str) -> None:
    """Closing twice is fine; a closed transport refuses to send instead of reopening."""
    async with RawServer() as server:
        transport = build_transport(stack, max_connections=1, connect_timeout_s=1.0)
        await transport.send(make_request(server.url(), token))
        await transport.aclose()
        await transport.aclose()

        with pytest.raises(RuntimeError, match="closed"):
            await transport.send(make_request(server.url(), token))


def test_unknown_stack_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown HTTP stack"):
        build_transport("requests", max_connections=1, connect_timeout_s=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("stack", ["aiohttp", "httpx"])
async def test_a_transport_with_a_proxy_shows_no_credentials(stack: HttpStack) -> None:
    transport = build_transport(
        stack,
        max_connections=1,
        connect_timeout_s=1.0,
        proxy_url="http://gateway:proxy-SECRET-pw@proxy.internal:3128",
    )
    try:
        shown = repr(transport) + str(transport) + repr(vars(transport))
    finally:
        await transport.aclose()
    assert "proxy-SECRET-pw" not in shown
