"""``python -m bench --profile``: where the gateway's CPU goes, sampled by py-spy.

py-spy (``pip install py-spy``; not a dependency of the project) attaches to each gateway
process the harness starts and samples its Python stacks until it exits, into a collapsed-stack
file in the run directory (one line per stack and its sample count: flame-graph tools read it).
When the process has stopped, the top functions by own time and by inclusive time are printed.

Sampling costs the gateway a few percent of its throughput: compare profiles with each other,
not a profiled run's numbers with an unprofiled one's.
"""

from __future__ import annotations

import collections
import re
import shutil
from pathlib import Path

from bench.harness import Proc, ProcessGroup

__all__ = ["attach", "py_spy", "summary"]

_RATE_HZ = 250
_FRAME = re.compile(r"(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")


def py_spy() -> str:
    """The py-spy executable, or SystemExit naming how to get it."""
    found = shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy on the PATH: pip install py-spy")
    return found


def attach(group: ProcessGroup, pid: int, out: Path) -> Proc:
    """Sample ``pid`` into ``out`` until it exits."""
    argv = [py_spy(), "record", "--pid", str(pid), "--rate", str(_RATE_HZ), "--format", "raw"]
    return group.spawn(f"py-spy-{pid}", [*argv, "--output", str(out)])


def _frame(raw: str) -> str:
    match = _FRAME.match(raw)
    if match is None:
        return raw
    path = match["file"]
    for marker in ("site-packages/", "/service/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['function']} ({path})"


def summary(path: Path, top: int = 15) -> list[str]:
    """The ``top`` functions by own and by inclusive share of the samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return [f"{path}: no samples"]
    lines = [f"{path}: {total:,} samples; own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("inclusive time (the package's functions):")
    ours = [(n, name) for name, n in inclusive.items() if "wawp_gateway/" in name]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for n, name in sorted(ours, reverse=True)[:top]]
    return lines
