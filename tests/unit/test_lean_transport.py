"""The httptools stack's own HTTP/1.1 handling, against a real local server that answers as
scripted: framing (length, chunked, end of connection), keep-alive reuse, and the pool bound.
(The failure kinds and secrets are shared with the other stacks: test_transport.py.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from wawp_gateway.core.errors import WawpTimeout
from wawp_gateway.wawp.transports.base import HttpRequest
from wawp_gateway.wawp.transports.factory import build_transport
from wawp_gateway.wawp.transports.httptools_stack import HttptoolsTransport


class ScriptedServer:
    """Answers each request with the next raw answer of ``answers`` (bytes, written as is);
    counts connections and requests. An answer ending in ``CLOSE`` closes the connection."""

    CLOSE = b"<close>"

    def __init__(self, *answers: bytes) -> None:
        self._answers = list(answers)
        self.connections = 0
        self.targets: list[str] = []
        self.received = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    def url(self, path: str = "/v2/send/text") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while self._answers:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *lines = head.decode("latin-1").split("\r\n")
                self.targets.append(line.split(" ")[1])
                self.received.set()
                length = next(
                    (int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length")),
                    0,
                )
                await reader.readexactly(length)
                answer = self._answers.pop(0)
                closing = answer.endswith(self.CLOSE)
                writer.write(answer.removesuffix(self.CLOSE))
                await writer.drain()
                if closing:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def request(url: str, *, method: str = "POST", timeout_s: float = 5.0) -> HttpRequest:
    return HttpRequest(method, url, (("access_token", "t"),), b"{}", timeout_s)


@contextlib.asynccontextmanager
async def transport(max_connections: int = 4) -> AsyncIterator[HttptoolsTransport]:
    built = build_transport("httptools", max_connections=max_connections, connect_timeout_s=2.0)
    assert isinstance(built, HttptoolsTransport)
    try:
        yield built
    finally:
        await built.aclose()


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"


async def test_sequential_calls_reuse_one_connection() -> None:
    async with ScriptedServer(OK, OK, OK) as server, transport() as client:
        for _ in range(3):
            assert (await client.send(request(server.url()))).body == b"{}"

    assert server.connections == 1
    assert server.targets == ["/v2/send/text?access_token=t"] * 3


async def test_chunked_answer_is_joined() -> None:
    chunked = (
        b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
    )
    async with ScriptedServer(chunked, OK) as server, transport() as client:
        first = await client.send(request(server.url()))
        second = await client.send(request(server.url()))

    assert first.body == b'{"a": 1}'
    assert second.body == b"{}"
    assert server.connections == 1  # a chunked answer leaves the connection reusable


async def test_answer_framed_by_the_connection_end() -> None:
    """No length, not chunked: the body runs to the end of the connection (HTTP/1.0 style)."""
    eof_framed = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n[1, 2]" + (
        ScriptedServer.CLOSE
    )
    async with ScriptedServer(eof_framed, OK) as server, transport() as client:
        first = await client.send(request(server.url()))
        second = await client.send(request(server.url()))

    assert (first.status, first.body) == (200, b"[1, 2]")
    assert second.body == b"{}"
    assert server.connections == 2


async def test_connection_close_answer_is_not_reused() -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"
    async with ScriptedServer(closing, OK) as server, transport() as client:
        await client.send(request(server.url()))
        await client.send(request(server.url()))

    assert server.connections == 2


async def test_informational_answer_is_skipped() -> None:
    early = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
    async with ScriptedServer(early) as server, transport() as client:
        response = await client.send(request(server.url()))

    assert (response.status, response.body) == (200, b"{}")


async def test_unparsable_answer_is_maybe_processed() -> None:
    async with ScriptedServer(b"SMTP ready\r\n\r\n") as server, transport() as client:
        with pytest.raises(WawpTimeout):
            await client.send(request(server.url()))


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n"
        + b"".join(b"x-h%d: v\r\n" % i for i in range(300))
        + b"content-length: 2\r\n\r\n{}",
    ],
    ids=["upgrade", "too-many-headers"],
)
async def test_answers_no_wawp_call_expects_are_maybe_processed(answer: bytes) -> None:
    async with ScriptedServer(answer) as server, transport() as client:
        with pytest.raises(WawpTimeout):
            await client.send(request(server.url()))


async def test_idle_connection_closed_by_the_server_is_not_used() -> None:
    """The server closes an idle keep-alive connection: the next call opens a new one."""
    async with ScriptedServer(OK + ScriptedServer.CLOSE, OK) as server, transport() as client:
        await client.send(request(server.url()))
        await _until(lambda: not any(client._idle.values()))
        response = await client.send(request(server.url()))

    assert response.body == b"{}"
    assert server.connections == 2


async def test_the_pool_bound_holds_under_many_callers() -> None:
    async with ScriptedServer(*([OK] * 40)) as server, transport(max_connections=3) as client:
        responses = await asyncio.gather(*(client.send(request(server.url())) for _ in range(40)))

    assert [r.status for r in responses] == [200] * 40
    assert server.connections <= 3


async def test_a_cancelled_caller_gives_its_connection_back() -> None:
    hang = b""  # never answered: the caller is cancelled
    async with ScriptedServer(hang, OK) as server, transport(max_connections=1) as client:
        first = asyncio.create_task(client.send(request(server.url())))
        await server.received.wait()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        response = await client.send(request(server.url()))

    assert response.body == b"{}"
    assert server.connections == 2  # the cut-off exchange's connection was not reused


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Polled with a deadline: the pool has no event for a connection its peer closed."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
