"""Processes of a benchmark run: spawning, stopping, and their CPU and RSS read from /proc.

Every process the harness starts is registered in one ``ProcessGroup`` and stopped when it
closes, also on Ctrl-C and on errors. Each runs in its own session (``start_new_session``), so a
Ctrl-C in the terminal reaches only the harness, which then stops the children in order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = [
    "CpuSnapshot",
    "Proc",
    "ProcessGroup",
    "RssSampler",
    "cpu_seconds",
    "free_port",
    "poll",
    "rss_bytes",
    "wait_for",
]

_REPO_ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` (all its threads), or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICKS


def machine_cpu_times() -> list[int]:
    """The machine's CPU times so far (``/proc/stat``: user, nice, system, idle, iowait, irq,
    softirq, steal), or nothing where there is no such file."""
    try:
        with open("/proc/stat") as stat:
            return [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def rss_bytes(pid: int) -> int | None:
    try:
        resident = Path(f"/proc/{pid}/statm").read_text().split()[1]
    except (OSError, IndexError):
        return None
    return int(resident) * _PAGE


async def poll(condition: Callable[[], bool], *, timeout_s: float, every_s: float = 0.05) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every_s)
    return True


async def wait_for(
    condition: Callable[[], bool], *, timeout_s: float, what: str, every_s: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; RuntimeError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(every_s)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)
    metrics_url: str | None = None  # a gateway's /metrics, where the harness knows it

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu(self) -> float:
        return cpu_seconds(self.pid) or 0.0

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"{self.name} exited with code {self.popen.returncode}:\n{self.log_tail()}"
            )

    def stop(self, grace_s: float = 10.0, sig: int = signal.SIGTERM) -> int:
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.popen.returncode


class ProcessGroup:
    """Starts subprocesses with logs in ``log_dir``; ``close()`` stops every one still running."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[Proc] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdout: int | None = None,
    ) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        full_env = {**os.environ, **(env or {})}
        # The harness's modules (bench.*) must import whatever the caller's working directory.
        paths = [str(_REPO_ROOT), *filter(None, [full_env.get("PYTHONPATH")])]
        full_env["PYTHONPATH"] = os.pathsep.join(paths)
        popen = subprocess.Popen(
            list(argv),
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else log,
            stderr=log,
            start_new_session=True,
        )
        proc = Proc(name, popen, log_path, log)
        self._procs.append(proc)
        return proc

    def python(
        self, name: str, module: str, *args: str, env: Mapping[str, str] | None = None
    ) -> Proc:
        return self.spawn(name, [sys.executable, "-m", module, *args], env=env)

    def adopt(self, proc: Proc) -> None:
        self._procs.append(proc)

    def close(self) -> None:
        # Newest first: systems under test before the sandbox and the broker they use.
        for proc in reversed(self._procs):
            try:
                proc.stop(grace_s=5.0)
            except Exception as exc:  # one stuck child must not leave the others running
                print(f"bench: could not stop {proc.name}: {exc}", file=sys.stderr)
        self._procs.clear()


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    at: float
    seconds: dict[str, float]
    machine: list[int] = field(default_factory=list)

    @classmethod
    def take(cls, procs: Mapping[str, int]) -> CpuSnapshot:
        seconds = {name: cpu_seconds(pid) or 0.0 for name, pid in procs.items()}
        return cls(time.monotonic(), seconds, machine_cpu_times())

    def since(self, earlier: CpuSnapshot) -> dict[str, float]:
        return {
            name: round(value - earlier.seconds.get(name, 0.0), 3)
            for name, value in self.seconds.items()
        }

    def steal_since(self, earlier: CpuSnapshot) -> float | None:
        """The share of the machine's CPU time its hypervisor took meanwhile (None: unknown).

        A virtual machine's host busy elsewhere slows every process alike: rounds with steal
        time are slower, for whichever system ran then."""
        before, after = earlier.machine, self.machine
        if len(before) < 8 or len(after) < 8:
            return None
        spent = [b - a for a, b in zip(before, after, strict=True)]
        total = sum(spent)
        return round(spent[7] / total, 4) if total > 0 else None


class RssSampler:
    """Peak RSS of one process, sampled every ``every_s`` in a thread (the harness's own event
    loop may be busy collecting results, and a missed peak would flatter the gateway)."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self._pid = pid
        self._every_s = every_s
        self.peak = 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            value = rss_bytes(self._pid)
            if value is None:
                return
            self.peak = max(self.peak, value)
            self.samples.append((round(time.monotonic() - started, 2), value))
            self._stop.wait(self._every_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
