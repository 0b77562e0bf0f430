"""Secured edges in front of the embedded broker, for tests: TLS and SASL on real sockets.

The embedded broker serves plaintext only and cannot authenticate (docs/embedded-broker.md), so
the tests put a relay in front of it:

- ``Relay(..., tls=...)`` terminates TLS (Python's ``ssl``; mutual TLS when it is given the CA
  that signs client certificates) and pipes every byte to the broker.
- ``Relay(..., users=...)`` answers Kafka's ``SaslHandshake`` (api key 17) and
  ``SaslAuthenticate`` (36) itself, PLAIN by comparison and SCRAM through ``scramp``, relays
  ``ApiVersions`` (18) to the broker, refuses anything else before the login, then pipes.

The broker is started with its advertised listener on the relay's port, so every connection a
client opens after reading metadata (coordinators, partition leaders) goes through the relay too.
The relay runs on its own event loop in a thread: sync tests, subprocesses and session fixtures
can all use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import scramp
import trustme

from wawp_gateway.core.broker import EmbeddedBroker, start_embedded_broker

__all__ = [
    "Certificates",
    "Relay",
    "SecuredBroker",
    "make_certificates",
    "secured_broker",
    "server_context",
]

_API_VERSIONS, _SASL_HANDSHAKE, _SASL_AUTHENTICATE = 18, 17, 36
_UNSUPPORTED_SASL_MECHANISM, _ILLEGAL_SASL_STATE, _SASL_AUTHENTICATION_FAILED = 33, 34, 58
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, slots=True)
class Certificates:
    """PEM files: the CA that signs the broker's and the client's certificates, and another CA
    that signs nothing the broker shows (the "wrong CA")."""

    ca: Path
    wrong_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certificates(directory: Path) -> Certificates:
    """A fresh CA, a server certificate for 127.0.0.1 and localhost, a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, wrong = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("gateway-client@example.test")
    paths = Certificates(
        ca=directory / "ca.pem",
        wrong_ca=directory / "wrong-ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    ca.cert_pem.write_to_path(str(paths.ca))
    wrong.cert_pem.write_to_path(str(paths.wrong_ca))
    for blob, path in ((server, paths.server_cert), (client, paths.client_cert)):
        path.write_bytes(b"".join(part.bytes() for part in blob.cert_chain_pems))
    server.private_key_pem.write_to_path(str(paths.server_key))
    client.private_key_pem.write_to_path(str(paths.client_key))
    return paths


def server_context(certs: Certificates, *, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certs.ca)
    return context


def _string(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def _frame(correlation_id: int, body: bytes) -> bytes:
    payload = struct.pack(">i", correlation_id) + body
    return struct.pack(">i", len(payload)) + payload


class _Login:
    """One connection's SASL state: the mechanism chosen by the handshake, the SCRAM exchange."""

    def __init__(self, users: Mapping[str, str], scram: Mapping[str, scramp.ScramMechanism]):
        self._users = users
        self._scram = scram
        self.mechanism: str | None = None
        self._server: object | None = None
        self.done = False

    def handshake(self, mechanism: str) -> int:
        if mechanism not in MECHANISMS:
            return _UNSUPPORTED_SASL_MECHANISM
        self.mechanism = mechanism
        return 0

    def authenticate(self, token: bytes) -> tuple[int, str | None, bytes]:
        """``(error_code, error_message, server bytes)`` for one SaslAuthenticate request."""
        if self.mechanism is None:
            return _ILLEGAL_SASL_STATE, "no handshake", b""
        if self.mechanism == "PLAIN":
            _authzid, user, password = token.decode(errors="replace").split("\0", 2)
            if self._users.get(user) != password:
                return _SASL_AUTHENTICATION_FAILED, "Invalid username or password", b""
            self.done = True
            return 0, None, b""
        return self._scram_step(token)

    def _scram_step(self, token: bytes) -> tuple[int, str | None, bytes]:
        assert self.mechanism is not None
        try:
            if self._server is None:
                mech = self._scram[self.mechanism]
                self._server = mech.make_server(self._auth_info)
                self._server.set_client_first(token.decode())  # type: ignore[attr-defined]
                return 0, None, self._server.get_server_first().encode()  # type: ignore[attr-defined]
            self._server.set_client_final(token.decode())  # type: ignore[attr-defined]
        except scramp.ScramException:
            return _SASL_AUTHENTICATION_FAILED, "Invalid username or password", b""
        self.done = True
        return 0, None, self._server.get_server_final().encode()  # type: ignore[attr-defined]

    def _auth_info(self, username: str) -> tuple[bytes, bytes, bytes, int]:
        assert self.mechanism is not None
        password = self._users.get(username)
        if password is None:
            raise scramp.ScramException("unknown user")
        info: tuple[bytes, bytes, bytes, int] = self._scram[self.mechanism].make_auth_info(
            password, iteration_count=4096
        )
        return info


class Relay:
    """A TCP (or TLS) listener on 127.0.0.1 that pipes each connection to ``upstream``; with
    ``users`` it performs the SASL login itself first. Counts what it saw, for assertions."""

    def __init__(
        self,
        upstream: tuple[str, int] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        users: Mapping[str, str] | None = None,
    ) -> None:
        self.upstream = upstream
        self._tls = tls
        self._users = dict(users) if users is not None else None
        self._scram = {m: scramp.ScramMechanism(m) for m in MECHANISMS if m != "PLAIN"}
        self.logins: list[str] = []
        self.refused_logins = 0
        # Connections accepted (TLS handshake done, when the relay speaks TLS) and piped on.
        self.sessions = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.port = 0

    def start(self) -> Relay:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._connections:
            writer.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.upstream is not None, "start the broker before the clients"
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._connections.update((writer, up_writer))
        self.sessions += 1
        try:
            if self._users is not None and not await self._login(
                reader, writer, up_reader, up_writer
            ):
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            for w in (writer, up_writer):
                self._connections.discard(w)
                w.close()

    async def _login(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> bool:
        assert self._users is not None
        login = _Login(self._users, self._scram)
        while not login.done:
            size = struct.unpack(">i", await reader.readexactly(4))[0]
            request = await reader.readexactly(size)
            api_key, version, correlation_id, client_len = struct.unpack(">hhih", request[:10])
            body = request[10 + max(client_len, 0) :]
            if api_key == _API_VERSIONS:
                up_writer.write(struct.pack(">i", size) + request)
                reply_size = struct.unpack(">i", await up_reader.readexactly(4))[0]
                writer.write(
                    struct.pack(">i", reply_size) + await up_reader.readexactly(reply_size)
                )
            elif api_key == _SASL_HANDSHAKE and version <= 1:
                length = struct.unpack(">h", body[:2])[0]
                code = login.handshake(body[2 : 2 + length].decode())
                mechanisms = b"".join(_string(m) for m in MECHANISMS)
                writer.write(
                    _frame(correlation_id, struct.pack(">hi", code, len(MECHANISMS)) + mechanisms)
                )
            elif api_key == _SASL_AUTHENTICATE and version <= 1:
                length = struct.unpack(">i", body[:4])[0]
                code, message, reply = login.authenticate(body[4 : 4 + length])
                answer = struct.pack(">h", code) + _string(message)
                answer += struct.pack(">i", len(reply)) + reply
                if version == 1:
                    answer += struct.pack(">q", 0)
                writer.write(_frame(correlation_id, answer))
                if code:
                    self.refused_logins += 1
                    await writer.drain()
                    return False
            else:
                # A real broker refuses every other request before the login.
                return False
            await writer.drain()
        self.logins.append(login.mechanism or "")
        return True


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()


@dataclass
class SecuredBroker:
    """An embedded broker reachable only through ``relay`` (its advertised listener)."""

    relay: Relay
    broker: EmbeddedBroker

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.relay.port}"


@contextlib.contextmanager
def secured_broker(
    log_dir: Path,
    *,
    tls: ssl.SSLContext | None = None,
    users: Mapping[str, str] | None = None,
) -> Iterator[SecuredBroker]:
    """Start a relay, then a broker that advertises the relay's port; stop both after."""
    relay = Relay(tls=tls, users=users).start()
    try:
        broker = start_embedded_broker(log_dir, advertised_port=relay.port)
        relay.upstream = (broker.host, broker.port)
        try:
            yield SecuredBroker(relay, broker)
        finally:
            broker.stop()
    finally:
        relay.stop()
