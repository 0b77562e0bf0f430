"""``python -m bench.ab --kafka-rtt``: each Kafka request's round trip in the systems measured.

Python imports this module at start-up when its directory is on ``PYTHONPATH`` (bench.ab puts
it there for every process it starts). With ``WAWP_BENCH_RTT_OUT`` set to a directory, in a
gateway worker or a baseline loop it times each produce and fetch request on aiokafka's
connections, from the request's write to the handling of its answer (so a busy process's late
read of an answer counts too), and writes ``<pid>.json`` there when the process exits. It
patches aiokafka's private ``AIOKafkaConnection`` methods: a measuring tool, never loaded by
the gateway itself.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.probing import probe_dir

_API_KEYS = {0: "produce", 1: "fetch"}


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    count = len(ordered)
    return {
        "requests": count,
        "p50_ms": round(ordered[count // 2], 2),
        "p90_ms": round(ordered[min(count - 1, int(count * 0.9))], 2),
        "mean_ms": round(sum(ordered) / count, 2),
    }


def _install(out_dir: Path) -> None:
    import aiokafka.conn

    connection = aiokafka.conn.AIOKafkaConnection
    sent_at: dict[int, tuple[tuple[str, int], float]] = {}
    times: dict[tuple[str, int], list[float]] = collections.defaultdict(list)
    send, handle_frame = connection.send, connection._handle_frame

    def timed_send(self: Any, request: Any, expect_response: bool = True) -> Any:
        started = time.perf_counter()
        result = send(self, request, expect_response)
        api = _API_KEYS.get(getattr(request, "API_KEY", -1))
        if api is not None and expect_response and self._requests:
            sent_at[id(self._requests[-1][2])] = ((api, id(self)), started)
        return result

    def timed_handle_frame(self: Any, resp: Any) -> Any:
        if self._requests:
            found = sent_at.pop(id(self._requests[0][2]), None)
            if found is not None:
                times[found[0]].append((time.perf_counter() - found[1]) * 1000)
        return handle_frame(self, resp)

    def write() -> None:
        fetches = [t for (api, _), t in times.items() if api == "fetch"]
        produced = [x for (api, _), t in times.items() if api == "produce" for x in t]
        report: dict[str, Any] = {"argv": sys.orig_argv}
        if fetches:
            # The input consumer's connection: the one that fetched most (the followers of the
            # registry and the session statuses fetch idle topics, each held for the wait).
            report["fetch"] = _summary(max(fetches, key=len))
        if produced:
            report["produce"] = _summary(produced)
        (out_dir / f"{os.getpid()}.json").write_text(json.dumps(report))

    connection.send = timed_send
    connection._handle_frame = timed_handle_frame
    atexit.register(write)


_out = probe_dir("WAWP_BENCH_RTT_OUT")
if _out is not None:
    _install(_out)
