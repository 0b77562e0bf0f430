"""Worker processes and the chaos done to them: kill -9 (mostly mid-call), replace, add, remove.

"Mid-call" is decided from the sandbox's side: the victim is a worker whose TCP connection to the
sandbox (its local port, read from ``/proc``) carries a request the sandbox holds right now. The
check and the kill happen in one turn of the event loop that also serves the sandbox, so the
sandbox cannot answer in between: the victim never sees that answer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from wawp_gateway.sandbox import HeldRequest, Sandbox

from .harness import TOKEN, ChaosSize

# -- configuration -----------------------------------------------------------------------------


def topic_names(prefix: str) -> dict[str, str]:
    """``GATEWAY_TOPICS__<NAME>`` suffix -> this run's topic."""
    names = (
        "SEND",
        "COMMAND",
        "RESULTS",
        "EVENTS",
        "DELIVERY",
        "DLQ",
        "STATE",
        "INSTANCES",
        "SESSIONS",
    )
    return {name: f"{prefix}.{name.lower()}" for name in names}


def worker_env(
    *,
    bootstrap: str,
    prefix: str,
    sandbox_url: str,
    instances_file: Path,
    size: ChaosSize,
) -> dict[str, str]:
    """The whole configuration of a worker, as ``GATEWAY_*`` variables."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    topics = topic_names(prefix)
    return {
        **inherited,
        "GATEWAY_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "GATEWAY_KAFKA__GROUP_ID": f"{prefix}-group",
        "GATEWAY_KAFKA__SESSION_TIMEOUT_MS": "3000",
        "GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "GATEWAY_KAFKA__REBALANCE_TIMEOUT_MS": "3000",
        "GATEWAY_KAFKA__FETCH_MAX_WAIT_MS": "10",
        "GATEWAY_KAFKA__PARTITIONS": str(size.partitions),
        **{f"GATEWAY_TOPICS__{name}": topic for name, topic in topics.items()},
        "GATEWAY_METRICS__HOST": "127.0.0.1",
        "GATEWAY_METRICS__PORT": "0",
        "GATEWAY_WAWP__BASE_URL": f"{sandbox_url}/wp-json/awp/v1",
        "GATEWAY_WAWP__V2_BASE_URL": sandbox_url,
        "GATEWAY_WAWP__ACCESS_TOKEN": TOKEN,
        "GATEWAY_WAWP__TIMEOUT_S": "2",
        "GATEWAY_ENGINE__MAX_IN_FLIGHT": str(size.max_in_flight),
        "GATEWAY_RETRY__BACKOFF_INITIAL_S": "0.05",
        "GATEWAY_RETRY__BACKOFF_MAX_S": "0.5",
        "GATEWAY_SHUTDOWN__GRACE_S": "5",
        "GATEWAY_RECONCILE__ENABLED": "true" if size.reconcile else "false",
        "GATEWAY_INSTANCES_FILE": str(instances_file),
        "GATEWAY_LOG__FORMAT": "json",
    }


def write_instances_file(path: Path, instances: Iterable[str]) -> Path:
    """Every instance configured, with limits far above what the run sends."""
    lines = ["[defaults]", "rate_per_minute = 600000", "burst = 1000", ""]
    lines += [f"[instances.{i}]" for i in instances]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- one worker --------------------------------------------------------------------------------


class WorkerProcess:
    """One ``wawp-gateway worker``; its JSON log goes to a file that is read incrementally."""

    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "wawp_gateway", "worker"],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest only
        )
        self.started_at = time.monotonic()
        self.fate = "running"  # killed | terminated | stopped | exited by itself
        self.exit_code: int | None = None
        self.assignments = 0
        self._read = 0
        self._partial = b""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def scan_log(self) -> None:
        """Count the ``partitions.assigned`` lines written since the last scan."""
        with self.log_path.open("rb") as log:
            log.seek(self._read)
            chunk = log.read()
        self._read += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        self.assignments += sum(b'"partitions.assigned"' in line for line in lines)

    def kill(self) -> None:
        """kill -9, and reap it."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.fate = "killed"
        self.exit_code = self.popen.wait(10)
        self._log.close()

    async def terminate(self, deadline_s: float, fate: str = "terminated") -> int | None:
        """SIGTERM (a graceful stop) and wait; None when it did not exit within the deadline."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            self.fate = fate
        try:
            self.exit_code = await asyncio.to_thread(self.popen.wait, deadline_s)
        except subprocess.TimeoutExpired:
            return None
        self._log.close()
        return self.exit_code

    def log_lines(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.log_path.read_bytes().splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if not isinstance(line, dict):  # a traceback or other raw output
                line = {"event": raw.decode(errors="replace")[:200], "level": "raw"}
            found.append(line)
        return found

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"    {line[:300]}" for line in text)


# -- who holds which connection ----------------------------------------------------------------


def _sockets_of(pid: int) -> set[str]:
    """Socket inodes a process holds open (``/proc/<pid>/fd``)."""
    inodes: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp_connections() -> dict[str, tuple[int, int]]:
    """Socket inode -> (local port, remote port) of every TCP socket of this network namespace."""
    found = {}
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            found[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16))
    return found


def ports_towards(pids: Iterable[int], remote_port: int) -> dict[int, int]:
    """Local port -> pid, for every TCP connection of ``pids`` to ``remote_port``."""
    table = _tcp_connections()
    owners = {}
    for pid in pids:
        for inode in _sockets_of(pid):
            ports = table.get(inode)
            if ports is not None and ports[1] == remote_port:
                owners[ports[0]] = pid
    return owners


# -- the fleet and the chaos -------------------------------------------------------------------


class Fleet:
    """The run's workers: ``size.workers`` kept running (a killed one is replaced at once), plus
    an extra one added and removed to force rebalances. ``close()`` kills whatever still runs."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self._env = env
        self._log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self._numbers = itertools.count(1)
        self.everyone: list[WorkerProcess] = []
        self.base: list[WorkerProcess] = []
        self.extra: WorkerProcess | None = None

    def start(self, *, extra: bool = False) -> WorkerProcess:
        worker = WorkerProcess(f"worker-{next(self._numbers)}", self._env, self._log_dir)
        self.everyone.append(worker)
        if extra:
            self.extra = worker
        else:
            self.base.append(worker)
        return worker

    def live_base(self) -> list[WorkerProcess]:
        return [w for w in self.base if w.alive()]

    def replace(self, dead: WorkerProcess) -> WorkerProcess:
        self.base.remove(dead)
        return self.start()

    async def wait_assigned(self, workers: Iterable[WorkerProcess], deadline_s: float) -> None:
        """Until each of ``workers`` logged an assignment; AssertionError with its log if one
        exits or the deadline passes."""
        pending = list(workers)
        deadline = time.monotonic() + deadline_s
        while pending:
            for worker in pending:
                worker.scan_log()
                if not worker.alive():
                    raise AssertionError(f"{worker.name} exited:\n{worker.log_tail()}")
            pending = [w for w in pending if w.assignments == 0]
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"{w.name}:\n{w.log_tail()}" for w in pending)
                raise AssertionError(f"no assignment within {deadline_s:.0f} s:\n{tails}")
            if pending:
                await asyncio.sleep(0.05)  # polling a log file: no event to wait on

    def assignments(self) -> int:
        for worker in self.everyone:
            worker.scan_log()
        return sum(w.assignments for w in self.everyone)

    async def stop_all(self, deadline_s: float) -> dict[str, int | None]:
        """SIGTERM every live worker at once; their exit codes (None: still running, killed)."""
        live = [w for w in self.everyone if w.alive()]
        codes = await asyncio.gather(*(w.terminate(deadline_s, "stopped") for w in live))
        for worker, code in zip(live, codes, strict=True):
            if code is None:
                worker.kill()
        return {w.name: code for w, code in zip(live, codes, strict=True)}

    def close(self) -> None:
        for worker in self.everyone:
            if worker.alive():
                worker.kill()


@dataclass(frozen=True, slots=True)
class Kill:
    at_s: float
    worker: str
    targeted: bool  # chosen because the sandbox held one of its requests
    held: tuple[HeldRequest, ...]  # the victim's requests the sandbox held at the kill
    ports: frozenset[int] = frozenset()  # the victim's local ports towards the sandbox
    arrived: int = 0  # requests the sandbox had received before the kill (arrival numbers)
    wall_at: float = 0.0  # time.time() of the kill, the clock of the sandbox's log

    @property
    def mid_call(self) -> bool:
        return bool(self.held)


def chaos_plan(kills: int, rng: random.Random) -> list[str]:
    """The actions of a run in order: kills (at least half of them aimed at a worker with a call
    held by the sandbox), with a worker added after a third of them and removed after two."""
    actions = ["kill-mid-call"] * (kills - kills // 2) + ["kill-random"] * (kills // 2)
    rng.shuffle(actions)
    actions.insert(len(actions) // 3, "add-worker")
    actions.insert(max(len(actions) * 2 // 3 + 1, actions.index("add-worker") + 1), "remove-worker")
    return actions


@dataclass
class Chaos:
    fleet: Fleet
    sandbox: Sandbox
    sandbox_port: int
    rng: random.Random
    started: float = field(default_factory=time.monotonic)
    kills: list[Kill] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    membership_changes: int = 0
    removed_exit: list[int | None] = field(default_factory=list)

    def _note(self, what: str) -> None:
        self.timeline.append(f"{time.monotonic() - self.started:7.1f}s  {what}")

    async def run(self, plan: list[str], window_s: float) -> None:
        """Each action at a random moment; all of them within ``window_s`` (while commands are
        still being published), about evenly spread."""
        gaps = [self.rng.uniform(0.5, 1.5) for _ in range(len(plan) + 1)]
        scale = 0.95 * window_s / sum(gaps)
        due = self.started
        for action, gap in zip(plan, gaps, strict=False):
            due += gap * scale
            if (ahead := due - time.monotonic()) > 0:
                await asyncio.sleep(ahead)  # sleep-ok: a random moment is the chaos itself
            if action == "kill-mid-call":
                await self.kill(targeted=True)
            elif action == "kill-random":
                await self.kill(targeted=False)
            elif action == "add-worker":
                worker = self.fleet.start(extra=True)
                self.membership_changes += 1
                self._note(f"add {worker.name} (pid {worker.pid})")
            elif action == "remove-worker":
                await self.remove_extra()

    def _holding(self) -> dict[int, list[HeldRequest]]:
        """pid -> the requests of that (live, base) worker the sandbox holds right now."""
        held = self.sandbox.held_requests()
        if not held:
            return {}
        owners = ports_towards((w.pid for w in self.fleet.live_base()), self.sandbox_port)
        found: dict[int, list[HeldRequest]] = defaultdict(list)
        for request in held:
            if request.client is not None and (pid := owners.get(request.client[1])):
                found[pid].append(request)
        return found

    async def kill(self, *, targeted: bool, deadline_s: float = 15.0) -> None:
        """kill -9 one base worker and start its replacement. ``targeted``: one the sandbox
        holds a request of, the first moment there is one (before ``deadline_s``)."""
        deadline = time.monotonic() + deadline_s
        for worker in self.fleet.base:
            worker.scan_log()
        while True:
            holding = self._holding()
            if holding or not targeted or time.monotonic() > deadline:
                break
            try:
                async with asyncio.timeout(0.2):
                    await self.sandbox.inflight.changed()
            except TimeoutError:
                pass
        # From reading `holding` to the SIGKILL: no await, so the sandbox answers nothing.
        live = self.fleet.live_base()
        if targeted and holding:
            chosen = self.rng.choice(sorted(holding))
            victim = next(w for w in live if w.pid == chosen)
        elif joined := [w for w in live if w.assignments]:
            victim = self.rng.choice(joined)  # one in the group, not one still starting
        elif live:
            victim = self.rng.choice(live)
        else:
            victim = self.rng.choice(self.fleet.base)
        ports = frozenset(ports_towards([victim.pid], self.sandbox_port))
        arrived = self.sandbox.inflight.arrived
        victim.kill()
        kill = Kill(
            time.monotonic() - self.started,
            victim.name,
            targeted and bool(holding),
            tuple(holding.get(victim.pid, ())),
            ports,
            arrived,
            time.time(),
        )
        self.kills.append(kill)
        replacement = self.fleet.replace(victim)
        self.membership_changes += 2
        how = f"mid-call, {len(kill.held)} held" if kill.mid_call else "no call held"
        age_s = time.monotonic() - victim.started_at
        self._note(
            f"kill -9 {victim.name} ({'aimed' if targeted else 'random'}, up {age_s:.1f} s, {how});"
            f" start {replacement.name}"
        )

    async def remove_extra(self) -> None:
        worker = self.fleet.extra
        if worker is None:
            return
        self._note(f"SIGTERM {worker.name}")
        code = await worker.terminate(deadline_s=30.0)
        if code is None:
            worker.kill()
        self.removed_exit.append(code)
        self.membership_changes += 1
        self._note(f"{worker.name} exited with {code}")


def worker_log_problems(workers: Iterable[WorkerProcess]) -> Counter[str]:
    """Warnings, errors and raw (non-JSON) output lines of every worker, by event name."""
    found: Counter[str] = Counter()
    for worker in workers:
        for line in worker.log_lines():
            level = str(line.get("level", ""))
            if level in {"warning", "error", "critical", "exception", "raw"}:
                found[f"{level} {line.get('event')}"] += 1
    return found
