"""The webhook receiver's memory with many unique event ids, with and without the window's cap.

    python bench/webhook_dedupe.py [--ids 1000000] [--caps 200000 1000000] [--json]

For each cap, a fresh process builds the receiver's ASGI app (``WebhookReceiver``, the real one,
with a publish that the broker acknowledges at once) and posts ``--ids`` ``message.ack`` events
with unique ids (``evt_`` + 26 characters, as Wawp's) through it, within one de-duplication window
(600 s: none expires). Reported per cap: ids held at the end, ids evicted, the process's RSS before
and after (and the peak), bytes per id held, and posts per second (one core, no HTTP or broker
in the way: this measures the window, not the receiver's throughput; ``bench/webhook.py`` does).
``--json`` prints one JSON object per cap instead of the table (the ``webhook-dedupe`` scenario of
``python -m bench`` reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.sections import WebhookSettings
from wawp_gateway.webhook.app import WebhookReceiver

_SECRET = "bench-secret"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, as ULIDs


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _event_id(n: int) -> str:
    digits = []
    for _ in range(26):
        n, rest = divmod(n, 32)
        digits.append(_ALPHABET[rest])
    return "evt_" + "".join(reversed(digits))


async def _measure(ids: int, cap: int) -> dict[str, Any]:
    registry = CollectorRegistry()
    settings = WebhookSettings(secret=SecretStr(_SECRET), dedupe_max_ids=cap)

    def publish(topic: str, key: bytes, value: bytes, headers: Any) -> asyncio.Future[None]:
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked

    app = WebhookReceiver(settings, "wawp.events", publish, Metrics(registry))
    answers: list[Any] = []

    async def send(message: Any) -> None:
        answers.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/wawp",
        "query_string": f"secret={_SECRET}".encode(),
        "headers": [],
    }
    gc.collect()
    before = _rss_bytes()
    started = time.perf_counter()
    for n in range(ids):
        body = json.dumps(
            {
                "event": "message.ack",
                "id": _event_id(n),
                "session": "ABC123DEF456",
                "payload": {"ack": 2, "ackName": "DEVICE"},
            }
        ).encode()
        message = {"type": "http.request", "body": body, "more_body": False}

        async def receive(message: Any = message) -> Any:
            return message

        await app(scope, receive, send)
        answers.clear()
        if n % 1_000 == 0:
            # An acknowledged publish never suspends the request: let the loop run its timers
            # (the receiver's deadline sweep) as a server's loop would between requests.
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    gc.collect()
    after = _rss_bytes()
    held = registry.get_sample_value("gateway_webhook_dedupe_ids") or 0.0
    published = registry.get_sample_value(
        "gateway_webhook_requests_total", {"outcome": "published"}
    )
    return {
        "ids": ids,
        "cap": cap,
        "published": published,
        "held": held,
        "evicted": registry.get_sample_value("gateway_webhook_dedupe_evicted_ids_total"),
        "rss_before_mb": before / 1e6,
        "rss_after_mb": after / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
        "bytes_per_id_held": (after - before) / held if held else None,
        "posts_per_s": ids / elapsed,
    }


def _child(ids: int, cap: int) -> dict[str, Any]:
    """One measurement in a fresh process: its RSS is the window's and nothing else's."""
    child = subprocess.run(
        [sys.executable, __file__, "--ids", str(ids), "--one", str(cap)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--caps", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--json", action="store_true", help="one JSON object per cap")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child's cap
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(asyncio.run(_measure(args.ids, args.one))))
        return
    if args.json:
        for cap in args.caps:
            print(json.dumps(_child(args.ids, cap)), flush=True)
        return
    print(
        "| ids posted | cap | ids held | evicted | RSS before -> after (peak) "
        "| per id held | posts/s |"
    )
    print("|---:|---:|---:|---:|---|---:|---:|")
    for cap in args.caps:
        r = _child(args.ids, cap)
        print(
            f"| {r['ids']:,} | {r['cap']:,} | {r['held']:,.0f} | {r['evicted']:,.0f} "
            f"| {r['rss_before_mb']:.0f} -> {r['rss_after_mb']:.0f} MB ({r['peak_rss_mb']:.0f}) "
            f"| {r['bytes_per_id_held'] or 0:.0f} B | {r['posts_per_s']:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
