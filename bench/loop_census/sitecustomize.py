"""``python -m bench.ab --loop-census``: what each system's event loop runs, callback by callback.

Python imports this module at start-up when its directory is on ``PYTHONPATH`` (bench.ab puts
it there for every process it starts). With ``WAWP_BENCH_LOOP_OUT`` set to a directory, in a
gateway worker or a baseline loop it counts the loop's iterations, the callbacks each one ran
and the time they took, by kind: a task's step (its first, or a resumption after an ``await``)
named by its coroutine, or a plain callback named by its function. The process writes
``<pid>.json`` there when it exits.

It patches the standard asyncio loop (``BaseEventLoop._run_once``, ``Handle._run``): uvloop
runs its callbacks in C, where they cannot be counted, so bench.ab starts every system on the
asyncio loop with this on. The counts are what they are on that loop; the times are inflated
by the counting itself (a few microseconds a callback) and by the slower loop: compare systems
measured the same way, not these times with a uvloop run's. A measuring tool, never loaded by
the gateway itself.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.probing import probe_dir

_BIGGEST_BUCKET = 200  # callbacks in one iteration: the histogram's last bucket holds more


def _kind(callback: Any) -> str:
    import asyncio

    while isinstance(callback, functools.partial):
        callback = callback.func
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        name = getattr(coro, "__qualname__", type(coro).__name__)
        # The C task's two entry points: a step scheduled by create_task or a plain resume
        # (TaskStepMethWrapper), and a wake-up by the future it awaited (a bound method).
        step = "step" if "Step" in type(callback).__name__ else "wake-up"
        return f"task {name} ({step}{_suspended_at(coro)})"
    name = getattr(callback, "__qualname__", None) or type(callback).__name__
    return f"{name} ({getattr(callback, '__module__', None) or '?'})"


def _suspended_at(coro: Any) -> str:
    """Where a task waits: its innermost suspended coroutine's function and line."""
    inner = None
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        inner = coro
        coro = coro.cr_await
    frame = inner.cr_frame if inner is not None else None
    if frame is None or inner is None:
        return ""
    return f" in {inner.__qualname__}:{frame.f_lineno}"


def _cache_key(callback: Any) -> Any:
    import asyncio

    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        where = _suspended_at(coro)  # a task's kinds differ by where it waits
        return (type(callback), getattr(coro, "cr_code", None) or type(coro), where)
    return (type(callback), getattr(callback, "__func__", None) or callback)


def install(out_dir: Path) -> None:
    import asyncio.base_events
    import asyncio.events

    per_kind: dict[str, list[float]] = {}
    kinds: dict[Any, str] = {}
    totals = {"iterations": 0, "callbacks": 0, "busy_s": 0.0, "select_s": 0.0}
    sizes: Counter[int] = Counter()
    started: list[float] = []
    clock = time.perf_counter
    run_handle = asyncio.events.Handle._run
    loop_class: Any = asyncio.base_events.BaseEventLoop  # _run_once is private: not typed
    run_once = loop_class._run_once

    def counted_run(self: Any) -> None:
        callback = self._callback
        try:
            key = _cache_key(callback)
            kind = kinds.get(key)
            if kind is None:
                kind = kinds[key] = _kind(callback)
        except TypeError:  # an unhashable callback: named each time
            kind = _kind(callback)
        began = clock()
        try:
            run_handle(self)
        finally:
            entry = per_kind.get(kind)
            if entry is None:
                entry = per_kind[kind] = [0, 0.0]
            entry[0] += 1
            entry[1] += clock() - began
            totals["callbacks"] += 1

    def counted_once(self: Any) -> None:
        if not started:
            started.append(clock())
            selector = self._selector
            select = selector.select

            def timed_select(timeout: float | None = None) -> Any:
                began = clock()
                try:
                    return select(timeout)
                finally:
                    totals["select_s"] += clock() - began

            selector.select = timed_select
        callbacks, waited = totals["callbacks"], totals["select_s"]
        began = clock()
        run_once(self)
        totals["busy_s"] += clock() - began - (totals["select_s"] - waited)
        totals["iterations"] += 1
        ran = int(totals["callbacks"] - callbacks)
        sizes[min(ran, _BIGGEST_BUCKET)] += 1

    def write() -> None:
        report = {
            "argv": sys.orig_argv,
            **totals,
            "wall_s": clock() - started[0] if started else 0.0,
            "callbacks_per_iteration": dict(sorted(sizes.items())),
            "kinds": {
                kind: {"count": int(count), "seconds": seconds}
                for kind, (count, seconds) in sorted(per_kind.items(), key=lambda kv: -kv[1][1])
            },
        }
        (out_dir / f"{os.getpid()}.json").write_text(json.dumps(report))

    asyncio.events.Handle._run = counted_run  # type: ignore[method-assign]
    loop_class._run_once = counted_once
    atexit.register(write)


_out = probe_dir("WAWP_BENCH_LOOP_OUT")
if _out is not None:
    install(_out)
