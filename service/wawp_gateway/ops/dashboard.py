"""The gateway's Grafana dashboard, built as code with grafana-foundation-sdk.

The SDK is Grafana's own set of typed builders, generated from the schemas Grafana validates
dashboards with, so a misspelt option or an unknown enum value is a type error here instead of a
panel that quietly renders nothing. It is a dev dependency only: ``wawp-gateway generate`` renders
the dashboard to ``deploy/grafana/wawp-gateway.json`` (checked for staleness like the other
generated files) and nothing at runtime imports this module. What the panels show is in
``panels``.

It emits the classic (v1) dashboard model, not ``dashboardv2``: Grafana's file provisioning reads
v1 JSON in every release from 9 to 12, while v2 needs Grafana 12 with its Kubernetes-style
dashboard API switched on. The SDK announces that preference with a DeprecationWarning raised
while its v1 modules are imported; that warning, and only there, is silenced.
"""

from __future__ import annotations

import json
import warnings

from wawp_gateway.ops.panels import PanelSpec, Query
from wawp_gateway.ops.rows import ROWS, panel_queries

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Prefer using dashboardv2", DeprecationWarning)
    from grafana_foundation_sdk.builders import common as common_builder
    from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as dashboard_model

__all__ = [
    "DASHBOARD_UID",
    "DATASOURCE_UID",
    "build_dashboard",
    "dashboard_json",
    "panel_queries",
    "render_dashboard",
]

DASHBOARD_UID = "wawp-gateway"
# The provisioned Prometheus (deploy/grafana/provisioning/datasources.yml); the ${datasource}
# variable starts on it and lets a viewer pick any other Prometheus.
DATASOURCE_UID = "prometheus"
_DATASOURCE = common.DataSourceRef(type_val="prometheus", uid="${datasource}")
_ROW_HEIGHT = 8


def _target(query: Query, ref_id: str) -> prometheus.Dataquery:
    target = (
        prometheus.Dataquery()
        .datasource(_DATASOURCE)
        .expr(query.expr)
        .legend_format(query.legend)
        .ref_id(ref_id)
    )
    # Exemplars link a latency bucket to a trace (docs/tracing.md); set only where shown.
    return target.exemplar(True) if query.exemplar else target


def _objective_thresholds(objective: float) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(dashboard_model.ThresholdsMode.ABSOLUTE)
        .steps(
            [
                dashboard_model.Threshold(value=None, color="red"),
                dashboard_model.Threshold(value=objective, color="green"),
            ]
        )
    )


def _stat(spec: PanelSpec) -> stat.Panel:
    panel = (
        stat.Panel()
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .graph_mode(common.BigValueGraphMode.AREA)
    )
    if spec.objective is not None:
        return panel.color_mode(common.BigValueColorMode.VALUE).thresholds(
            _objective_thresholds(spec.objective)
        )
    return panel.color_mode(common.BigValueColorMode.NONE)


def _timeseries(spec: PanelSpec) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .draw_style(
            common.GraphDrawStyle.BARS if spec.bars else common.GraphDrawStyle.LINE,
        )
        .line_width(1)
        .fill_opacity(80 if spec.bars else 10)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .min(0)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )


def _panel(spec: PanelSpec, panel_id: int) -> stat.Panel | timeseries.Panel:
    panel = _stat(spec) if spec.kind == "stat" else _timeseries(spec)
    for index, query in enumerate(spec.queries):
        panel = panel.with_target(_target(query, chr(ord("A") + index)))
    return (
        panel.id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .datasource(_DATASOURCE)
        .unit(spec.unit)
        .span(spec.width)
        .height(_ROW_HEIGHT)
    )


def build_dashboard() -> dashboard.Dashboard:
    """The dashboard builder: one Grafana row per ``ROWS`` entry, panels laid out left to right."""
    board = (
        dashboard.Dashboard("Wawp gateway")
        .uid(DASHBOARD_UID)
        .description(
            "Kafka-native outbound gateway for the Wawp WhatsApp API: commands, calls to Wawp, "
            "pacing, Kafka, dead letters, delivery acks and webhook intake."
        )
        .tags(["wawp-gateway", "kafka", "whatsapp"])
        .editable()
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .timezone("browser")
        .refresh("30s")
        .with_variable(
            dashboard.DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
            .current(
                dashboard_model.VariableOption(
                    selected=True, text="Prometheus", value=DATASOURCE_UID
                )
            )
        )
    )
    next_id = 1
    for row in ROWS:
        board = board.with_row(dashboard.Row(row.title).id(next_id))
        next_id += 1
        for spec in row.panels:
            board = board.with_panel(_panel(spec, next_id))
            next_id += 1
    return board


def dashboard_json() -> dict[str, object]:
    """The dashboard as Grafana's JSON model (what provisioning and the HTTP API accept)."""
    encoded = JSONEncoder(sort_keys=True).encode(build_dashboard().build())
    document: dict[str, object] = json.loads(encoded)
    return document


def render_dashboard() -> str:
    """``deploy/grafana/wawp-gateway.json``: stable text, so a test can compare it."""
    return json.dumps(dashboard_json(), indent=2, sort_keys=True) + "\n"
