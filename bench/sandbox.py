"""The Wawp sandbox of a run: its process, and a client of its ``/_sandbox/`` admin API."""

from __future__ import annotations

import asyncio
import select
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

import aiohttp

from bench.harness import Proc, ProcessGroup

__all__ = ["SandboxClient", "read_url", "start_sandbox"]

V1_ROOT = "/wp-json/awp/v1"


def start_sandbox(group: ProcessGroup, timeout_s: float = 30.0) -> tuple[Proc, str]:
    """Start ``bench.sandbox_server`` and return it with its base URL (its first stdout line)."""
    return read_url(group, "sandbox", [sys.executable, "-m", "bench.sandbox_server"], timeout_s)


def read_url(group: ProcessGroup, name: str, argv: list[str], timeout_s: float) -> tuple[Proc, str]:
    """Start a server process that prints its URL first; the process and that URL."""
    proc = group.spawn(name, argv, stdout=subprocess.PIPE)
    assert proc.popen.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        proc.check_alive()
        ready, _, _ = select.select([proc.popen.stdout], [], [], 0.1)
        if ready:
            line = proc.popen.stdout.readline().decode().strip()
            if line.startswith("http://"):
                return proc, line
    raise RuntimeError(f"{name} did not start within {timeout_s:.0f} s:\n{proc.log_tail()}")


class SandboxClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.v1_url = base_url + V1_ROOT
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SandboxClient:
        # A connection per admin call: a kept-alive one can be closed by the server (its idle
        # timeout) just as a call reuses it, and a quick run failed on that race
        # (ServerDisconnectedError); admin calls are few, a connect each costs nothing.
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=120),
            connector=aiohttp.TCPConnector(force_close=True),
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        assert self._session is not None
        params = {k: str(v) for k, v in query.items() if v is not None}
        async with self._session.request(
            method, f"{self.base_url}/_sandbox/{path}", json=body, params=params
        ) as response:
            data = await response.json(content_type=None)
            if response.status >= 300:
                raise RuntimeError(f"sandbox admin {method} {path}: {response.status} {data}")
            return data

    async def healthy(self) -> bool:
        try:
            await self._call("GET", "healthz")
        except (aiohttp.ClientError, RuntimeError):
            return False
        return True

    async def register(self, instance_ids: Iterable[str], token: str) -> None:
        """(Re-)register instances, WORKING. Re-registering drops their stored messages, which
        keeps the sandbox's memory flat across scenarios."""
        slots = asyncio.Semaphore(32)

        async def one(instance_id: str) -> None:
            async with slots:
                await self._call("POST", "instances", {"instance_id": instance_id, "token": token})

        await asyncio.gather(*(one(i) for i in instance_ids))

    async def set_webhook(self, url: str, secret: str | None) -> None:
        await self._call("POST", "webhook", {"url": url, "secret": secret, "hmac_key": None})

    async def health(self) -> dict[str, Any]:
        found: dict[str, Any] = await self._call("GET", "healthz")
        return found

    async def add_fault(self, **rule: Any) -> None:
        await self._call("POST", "faults", rule)

    async def clear_faults(self) -> None:
        await self._call("DELETE", "faults")

    async def clear_requests(self) -> None:
        await self._call("DELETE", "requests")

    async def requests(self, instance_id: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._call("GET", "requests", instance_id=instance_id)
        return found

    async def reset(self, instance_ids: Iterable[str], token: str) -> None:
        await self.clear_faults()
        await self.clear_requests()
        await self.register(instance_ids, token)
