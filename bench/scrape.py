"""What a running gateway says about itself: quantiles of a histogram on its ``/metrics``.

Used by the latency scenario to split the gateway's time with its own numbers (how long the
``in_progress`` record before each call waited for the broker), not with a patched copy.
"""

from __future__ import annotations

import asyncio
import math
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["bucket_quantile", "histogram_quantiles"]


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's ``histogram_quantile`` over cumulative ``(upper bound, count)`` buckets:
    linear inside the bucket the rank falls in; NaN without observations."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower  # the rank is past the last finite bound: say that bound
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


async def histogram_quantiles(
    metrics_url: str, name: str, qs: tuple[float, ...]
) -> dict[str, float]:
    """``{"p50": seconds, ...}`` of histogram ``name`` (no labels) read from ``metrics_url``."""
    text = await asyncio.to_thread(_fetch, metrics_url)
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        buckets = [
            (float(sample.labels["le"]), sample.value)
            for sample in family.samples
            if sample.name == f"{name}_bucket"
        ]
    return {f"p{round(q * 100)}": bucket_quantile(q, buckets) for q in qs}
