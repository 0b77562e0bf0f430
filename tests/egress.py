"""Real parts for the Wawp connection's tests: a test CA made at test time (trustme) and an egress
proxy (the proxy.py package, in its own process) with basic authentication that logs each
CONNECT. Production reaches Wawp over HTTPS, often through such a proxy."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import trustme

from wawp_gateway.core.serving import TlsFiles

__all__ = ["EgressProxy", "TestCA", "make_test_ca", "running_proxy"]

_START_DEADLINE_S = 30.0
# proxy.py's access log: "127.0.0.1:46698 - CONNECT 127.0.0.1:40123 - 5190 bytes - 12.3ms"
_CONNECT_LINE = re.compile(r" - CONNECT (\S+) - ")


@dataclass(frozen=True)
class TestCA:
    """A CA made for one test run, and a server certificate it issued for 127.0.0.1."""

    __test__ = False  # not a pytest test class

    ca_file: Path  # PEM: what GATEWAY_WAWP__CA_FILE points at
    server: TlsFiles  # the server's chain and key


def make_test_ca(directory: Path, *hosts: str) -> TestCA:
    """A fresh CA in ``directory`` and a certificate for ``hosts`` (default 127.0.0.1)."""
    ca = trustme.CA()
    issued = ca.issue_cert(*(hosts or ("127.0.0.1",)))
    ca_file = directory / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    certfile, keyfile = directory / "server.pem", directory / "server.key"
    issued.private_key_pem.write_to_path(str(keyfile))
    certfile.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    return TestCA(ca_file, TlsFiles(certfile, keyfile))


# proxy.py run in-process by a launcher that prints its port once it listens: no port file to
# poll. Its log (access lines included) goes to stdout, read line by line by the test.
_LAUNCHER = """
import sys, proxy
with proxy.Proxy(sys.argv[1:]) as running:
    print(f"{PORT_MARK}{running.flags.port}", flush=True)
    proxy.sleep_loop(running)
"""
_PORT_MARK = "proxy-listening-on-port "


class EgressProxy:
    """A running proxy.py: ``url()`` with its credentials, ``connects()`` from its log."""

    def __init__(self) -> None:
        self.user = "gateway"
        self.password = f"proxy-pw-{secrets.token_hex(12)}"
        self.port = 0
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    def url(self, *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"http://{self.user}:{secret}@127.0.0.1:{self.port}"

    def connects(self, target: str | None = None) -> list[str]:
        """The CONNECT targets logged so far (a line is written when its tunnel closes)."""
        found = [m.group(1) for line in self.lines if (m := _CONNECT_LINE.search(line))]
        return [t for t in found if target is None or t == target]

    async def wait_for(self, predicate: Callable[[], bool], deadline_s: float = 30.0) -> None:
        """Until ``predicate()`` holds, checked on each new log line."""
        async with asyncio.timeout(deadline_s), self._changed:
            await self._changed.wait_for(predicate)

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _LAUNCHER.replace("{PORT_MARK}", _PORT_MARK),
            "--hostname",
            "127.0.0.1",
            "--port",
            "0",
            "--num-acceptors",
            "1",
            "--basic-auth",
            f"{self.user}:{self.password}",
            "--log-level",
            "INFO",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read(self._process))
        await self.wait_for(lambda: self.port > 0 or self._reader_done(), _START_DEADLINE_S)
        if self.port == 0:
            raise RuntimeError("proxy.py stopped at start:\n" + "\n".join(self.lines[-20:]))

    def _reader_done(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            async for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip()
                async with self._changed:
                    if line.startswith(_PORT_MARK):
                        self.port = int(line.removeprefix(_PORT_MARK))
                    else:
                        self.lines.append(line)
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGINT)  # proxy.py's sleep loop ends on SIGINT
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            await self._reader


@contextlib.asynccontextmanager
async def running_proxy() -> AsyncIterator[EgressProxy]:
    proxy = EgressProxy()
    try:
        await proxy.start()
        yield proxy
    finally:
        await proxy.stop()
