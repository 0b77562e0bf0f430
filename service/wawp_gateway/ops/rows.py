"""Every row of the dashboard, in order, and the PromQL of each panel for checks outside
Grafana."""

from __future__ import annotations

from wawp_gateway.ops.panels import RATE_INTERVAL, RowSpec
from wawp_gateway.ops.return_rows import RETURN_ROWS
from wawp_gateway.ops.send_rows import SEND_ROWS

__all__ = ["ROWS", "panel_queries"]

ROWS: tuple[RowSpec, ...] = (*SEND_ROWS, *RETURN_ROWS)


def panel_queries(*, rate_interval: str = "1m") -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel, in dashboard order, with Grafana's
    ``$__rate_interval`` replaced by ``rate_interval`` so that Prometheus runs it as is."""
    return [
        (spec.title, query.expr.replace(RATE_INTERVAL, rate_interval))
        for row in ROWS
        for spec in row.panels
        for query in spec.queries
    ]
