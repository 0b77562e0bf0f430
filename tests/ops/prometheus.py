"""A real Prometheus server for tests: scrapes the targets it is given every second and evaluates
the repository's rule files (``deploy/prometheus``) on the same beat.

    with running_prometheus({"wawp-gateway-worker": ["127.0.0.1:9464"]}, tmp_path) as prom:
        prom.wait_for("up", lambda result: len(result) == 1, timeout=10)
        prom.query("job:gateway_send_success:ratio_rate5m")

The binary is the Debian package's (``make prometheus`` installs it). Everything it writes (its
configuration, its TSDB, its log) goes under the directory passed in, and it listens on a free
port of 127.0.0.1, so tests running in parallel never share a server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

__all__ = [
    "DEPLOY_DIR",
    "PrometheusMissing",
    "PrometheusServer",
    "Sample",
    "find_binary",
    "rule_files",
    "running_prometheus",
]

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
_INSTALL_HINT = "run `make prometheus` (installs the Debian package prometheus)"
_PORT_ATTEMPTS = 3
_POLL_S = 0.1


class PrometheusMissing(RuntimeError):
    """The prometheus or promtool binary is not installed."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One element of an instant vector (a scalar result has no labels)."""

    labels: Mapping[str, str]
    value: float


def find_binary(name: str) -> str:
    """``prometheus`` or ``promtool`` from PATH, else from /usr/bin where the Debian package puts
    them (a PATH that holds only the virtualenv)."""
    found = shutil.which(name)
    if found is None and os.access(f"/usr/bin/{name}", os.X_OK):
        found = f"/usr/bin/{name}"
    if found is None:
        raise PrometheusMissing(f"{name} not found: {_INSTALL_HINT}")
    return found


def rule_files() -> list[Path]:
    """The rule files the example configuration loads: the ones every test runs against."""
    config = yaml.safe_load((DEPLOY_DIR / "prometheus.yml").read_text())
    return [DEPLOY_DIR / name for name in config["rule_files"]]


class PrometheusServer:
    """A started server; ``query`` and ``wait_for`` read it through the HTTP API."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self._process = process
        self._log = log
        self._http = httpx.Client(base_url=url, timeout=5.0)

    def query(self, expr: str) -> list[Sample]:
        """Evaluates ``expr`` now; a scalar comes back as one sample without labels."""
        response = self._http.get("/api/v1/query", params={"query": expr})
        body = response.json()
        if body.get("status") != "success":
            raise ValueError(f"query {expr!r} failed: {body.get('error', response.text)}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise ValueError(f"query {expr!r} returned a {data['resultType']}, not a vector")
        return [Sample(item["metric"], float(item["value"][1])) for item in data["result"]]

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[Sample]], bool],
        timeout: float,
    ) -> list[Sample]:
        """Queries ``expr`` until ``predicate`` accepts the result, and returns that result."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{expr!r} after {timeout}s: {result}\n{self.log_tail()}")
            time.sleep(_POLL_S)  # sleep-ok: polling a condition under a deadline

    def rule_health(self) -> list[Mapping[str, Any]]:
        """Every loaded rule with its ``health`` and ``lastError``, as /api/v1/rules lists them."""
        groups = self._http.get("/api/v1/rules").json()["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def log_tail(self, lines: int = 20) -> str:
        text = self._log.read_text(errors="replace") if self._log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            with contextlib.suppress(httpx.TransportError):
                if self._http.get("/-/ready").status_code == 200:
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"prometheus not ready after {timeout}s\n{self.log_tail()}")
            time.sleep(_POLL_S)  # sleep-ok: polling a condition under a deadline

    def stop(self) -> None:
        self._http.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _check_alive(self) -> None:
        if self._process.poll() is not None:
            raise _Exited(f"prometheus exited with {self._process.returncode}\n{self.log_tail()}")


class _Exited(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(
    targets: Mapping[str, Sequence[str]], rules: Sequence[Path], interval: str
) -> dict[str, Any]:
    return {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(path) for path in rules],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
            for job, addresses in targets.items()
        ],
    }


@contextlib.contextmanager
def running_prometheus(
    targets: Mapping[str, Sequence[str]],
    workdir: Path,
    *,
    rules: Sequence[Path] | None = None,
    interval: str = "1s",
    ready_timeout: float = 30.0,
) -> Iterator[PrometheusServer]:
    """Starts Prometheus scraping ``targets`` (job -> ["host:port", ...]) and evaluating ``rules``
    (default: the repository's), and stops it on exit."""
    binary = find_binary("prometheus")
    config = workdir / "prometheus.yml"
    loaded = rule_files() if rules is None else rules
    config.write_text(yaml.safe_dump(_config(targets, loaded, interval)))
    # Another process can take the port between probing and Prometheus binding it: try again.
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = _free_port()
        log = workdir / f"prometheus-{attempt}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / f'tsdb-{attempt}'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = PrometheusServer(f"http://127.0.0.1:{port}", process, log)
        try:
            server.wait_until_ready(ready_timeout)
        except _Exited:
            server.stop()
            if attempt == _PORT_ATTEMPTS or "address already in use" not in server.log_tail():
                raise
            continue
        except BaseException:
            server.stop()
            raise
        break
    try:
        yield server
    finally:
        server.stop()
