"""The dashboard's building blocks: panels, rows, queries, and the PromQL helpers they share.

The rows themselves are plain data (``send_rows``, ``return_rows``; ``rows`` puts them in order),
rendered into Grafana's JSON model by ``dashboard``. Queries use Grafana's
``$__rate_interval`` (it follows the scrape interval and the zoom); ``panel_queries()`` expands it
so that each query runs as is on a plain Prometheus. No query pads an empty result (``or
vector(0)`` and the like): an empty panel means the series is not there. The one ``or``, in the SLI
ratios, fills a missing numerator with ``0 * denominator``, which exists only when there was
traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wawp_gateway.core.contracts import ResultStatus

__all__ = [
    "CIRCUIT_BY_WAWP_INSTANCE",
    "DELIVERY_OBJECTIVE",
    "RATE_INTERVAL",
    "RI",
    "SEND_OBJECTIVE",
    "SLI_DENOMINATOR",
    "SLI_WINDOW",
    "PanelSpec",
    "Query",
    "RowSpec",
    "Unit",
    "quantiles",
    "ratio",
]

# Grafana unit ids: ops/s, ops/min, requests/s, 0..1 shown as %, plain number, seconds.
Unit = Literal["ops", "opm", "reqps", "percentunit", "short", "s"]

RATE_INTERVAL = "$__rate_interval"
# The SLI stats use the shortest window and the objectives of the recording and alerting rules
# (deploy/prometheus: job:gateway_send_success:ratio_rate5m, ...), so that the dashboard and the
# alerts read the same numbers.
SLI_WINDOW = "5m"
SEND_OBJECTIVE = 0.995
DELIVERY_OBJECTIVE = 0.99
RI = RATE_INTERVAL
SLI_DENOMINATOR = "|".join(
    s.value
    for s in (
        ResultStatus.SUCCEEDED,
        ResultStatus.FAILED,
        ResultStatus.OUTCOME_UNKNOWN,
        ResultStatus.EXPIRED,
    )
)


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str = ""
    # Show the histogram's exemplars (trace ids, docs/tracing.md) beside the series.
    exemplar: bool = False


@dataclass(frozen=True, slots=True)
class PanelSpec:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: Unit
    width: int
    kind: Literal["timeseries", "stat"] = "timeseries"
    # stat only: a 0..1 ratio shown red below this objective, green from it on
    objective: float | None = None
    # timeseries only: bars, for sparse counts
    bars: bool = False


@dataclass(frozen=True, slots=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


def ratio(good: str, total: str) -> str:
    """``good / total`` where ``good`` may have no series yet: a labelled counter appears on its
    first increment, so with traffic but no success the plain ratio would be missing rather than
    0. ``0 * total`` fills in only where ``total`` has data; with no traffic the ratio stays
    missing, as it should."""
    return f"({good} or 0 * {total}) / {total}"


def quantiles(
    metric: str, by: str, qs: tuple[float, ...], legend: str, *, exemplars: bool = False
) -> tuple[Query, ...]:
    """``histogram_quantile`` per ``q`` over ``<metric>_bucket``, grouped by ``by`` (and ``le``);
    with ``exemplars``, the first query shows the histogram's exemplars (one set is enough)."""
    labels = f"{by}, le" if by else "le"
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({labels}) (rate({metric}_bucket[{RI}])))",
            f"{legend} p{round(q * 100)}".strip(),
            exemplar=exemplars and i == 0,
        )
        for i, q in enumerate(qs)
    )


# gateway_circuit_open's `instance` label (a Wawp instance) collides with the scrape target's
# `instance`: Prometheus keeps the metric's value as `exported_instance` unless the scrape job
# honours labels. Reading both keeps the panel right under either scrape configuration.
CIRCUIT_BY_WAWP_INSTANCE = (
    "max by (wawp_instance) (label_replace(label_replace(gateway_circuit_open,"
    ' "wawp_instance", "$1", "instance", "(.*)"),'
    ' "wawp_instance", "$1", "exported_instance", "(.+)"))'
)
