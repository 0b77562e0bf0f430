"""deploy/grafana: the dashboard is valid for Grafana, every panel queries the provisioned
Prometheus with well-formed PromQL over metrics the gateway exports, and the checked-in JSON is
exactly what wawp_gateway.ops.dashboard builds."""

from __future__ import annotations

import copy
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from ops.schemacheck import JsonSchema, unsupported_keywords
from wawp_gateway.core.metrics import Metrics
from wawp_gateway.ops.dashboard import (
    DASHBOARD_UID,
    DATASOURCE_UID,
    dashboard_json,
    panel_queries,
    render_dashboard,
)
from wawp_gateway.ops.panels import RATE_INTERVAL

ROOT = Path(__file__).parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
SCHEMAS = {
    path.name.removesuffix(".jsonschema.json"): JsonSchema(json.loads(path.read_text("utf-8")))
    for path in (ROOT / "tests" / "ops" / "schemas").glob("*.jsonschema.json")
}
DASHBOARD = dashboard_json()
ALL_PANELS: list[dict[str, Any]] = DASHBOARD["panels"]
PANELS = [p for p in ALL_PANELS if p["type"] != "row"]
QUERIES = panel_queries()
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

_FUNCTIONS = {
    # aggregations and their modifiers
    *("sum", "min", "max", "avg", "count", "group", "topk", "bottomk", "quantile"),
    *("by", "without", "on", "ignoring", "group_left", "group_right"),
    # functions
    *("rate", "irate", "increase", "delta", "deriv", "histogram_quantile"),
    *("label_replace", "label_join", "clamp_min", "clamp_max", "abs"),
    *("avg_over_time", "max_over_time", "min_over_time", "sum_over_time"),
}
_DURATION = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _exported_series() -> set[str]:
    """Series names the gateway's Metrics put on a registry (counters as ``_total``)."""
    registry = CollectorRegistry()
    Metrics(registry)
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
    return {
        family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]
    }


EXPORTED = _exported_series()


def test_checked_in_dashboard_is_fresh() -> None:
    """deploy/grafana/wawp-gateway.json equals what the code builds (`make generate` writes it)."""
    path = GRAFANA / "wawp-gateway.json"
    assert path.is_file(), "deploy/grafana/wawp-gateway.json is missing: run `make generate`"
    assert path.read_text("utf-8") == render_dashboard(), (
        "deploy/grafana/wawp-gateway.json is stale: run `make generate` (wawp-gateway generate)"
    )


def test_vendored_schemas_use_only_keywords_the_check_enforces() -> None:
    """No keyword of the vendored Grafana schemas would be skipped by the offline validator."""
    assert set(SCHEMAS) == {"dashboard", "timeseries", "stat", "prometheus"}
    for name, schema in SCHEMAS.items():
        assert unsupported_keywords(schema.document) == set(), name


def test_dashboard_validates_against_grafana_dashboard_schema() -> None:
    """The whole document matches Grafana's dashboard (v1) JSON Schema."""
    assert SCHEMAS["dashboard"].errors(DASHBOARD) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("schemaVersion"), "missing required 'schemaVersion'"),
        (lambda d: d.update(panelz=[]), "unexpected property 'panelz'"),
        (lambda d: d["panels"][1]["gridPos"].update(w=25), "breaks maximum 24"),
        (lambda d: d["panels"][1].update(type=""), "shorter than 1"),
        (lambda d: d.update(graphTooltip=7), "is not one of"),
    ],
)
def test_schema_check_rejects_a_broken_dashboard(mutate: Any, expected: str) -> None:
    """The offline validator is not vacuous: each kind of breakage is reported."""
    broken = copy.deepcopy(DASHBOARD)
    mutate(broken)
    assert any(expected in error for error in SCHEMAS["dashboard"].errors(broken))


def test_dashboard_round_trips_through_the_sdk_model() -> None:
    """The SDK's typed dashboard model reads the JSON back without losing or adding a field."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    decoded = Dashboard.from_json(copy.deepcopy(DASHBOARD))
    assert json.loads(JSONEncoder().encode(decoded)) == DASHBOARD


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p["title"])
def test_panel_options_match_their_plugin_schema(panel: dict[str, Any]) -> None:
    """timeseries and stat options (and timeseries field config) match the plugins' schemas."""
    schema = SCHEMAS[panel["type"]]
    assert schema.errors(panel["options"], "Options") == []
    if panel["type"] == "timeseries":
        assert schema.errors(panel["fieldConfig"]["defaults"]["custom"], "FieldConfig") == []


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p["title"])
def test_every_panel_queries_the_datasource_variable(panel: dict[str, Any]) -> None:
    """Each panel and each of its targets use ${datasource}; targets are valid Prometheus
    queries with distinct refIds."""
    assert panel["datasource"] == DATASOURCE
    assert panel["targets"], f"{panel['title']} has no query"
    for target in panel["targets"]:
        assert target["datasource"] == DATASOURCE
        assert SCHEMAS["prometheus"].errors(target, "Dataquery") == []
        assert target["expr"].strip()
    ref_ids = [target["refId"] for target in panel["targets"]]
    assert len(set(ref_ids)) == len(ref_ids)


def test_panel_ids_are_unique_and_titles_are_set() -> None:
    """Grafana keys panel state by id; a title names each panel."""
    ids = [panel["id"] for panel in ALL_PANELS]
    assert len(set(ids)) == len(ids)
    assert all(panel["title"] for panel in ALL_PANELS)


def test_grid_fits_24_columns_without_overlaps() -> None:
    """Every panel and row lies within the 24 columns and no two of them overlap."""
    boxes = []
    for panel in ALL_PANELS:
        pos = panel["gridPos"]
        assert min(pos["x"], pos["y"]) >= 0
        assert min(pos["w"], pos["h"]) > 0
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        boxes.append((panel["title"], pos))
    for (a, p), (b, q) in itertools.combinations(boxes, 2):
        apart = (
            p["x"] + p["w"] <= q["x"]
            or q["x"] + q["w"] <= p["x"]
            or p["y"] + p["h"] <= q["y"]
            or q["y"] + q["h"] <= p["y"]
        )
        assert apart, f"{a!r} overlaps {b!r}"


def test_rows_cover_the_operations_areas() -> None:
    """One row per area of the Operations issue, in reading order."""
    rows = [panel["title"] for panel in ALL_PANELS if panel["type"] == "row"]
    assert rows == [
        "Overview",
        "Commands",
        "Upstream (Wawp)",
        "Pacing",
        "Kafka",
        "Dead letters",
        "Delivery",
        "Webhooks",
    ]


def test_panel_queries_are_the_targets_with_macros_expanded() -> None:
    """panel_queries() lists every target of every panel, runnable on a plain Prometheus."""
    from_json = [
        (panel["title"], target["expr"].replace(RATE_INTERVAL, "1m"))
        for panel in PANELS
        for target in panel["targets"]
    ]
    assert panel_queries() == from_json
    assert all("$__" not in expr for _, expr in panel_queries(rate_interval="30s"))


@pytest.mark.parametrize(("title", "expr"), QUERIES, ids=[f"{t}: {e}" for t, e in QUERIES])
def test_query_is_well_formed_promql(title: str, expr: str) -> None:
    """Balanced brackets, known functions, valid range durations, and no padding of an empty
    result: a fallback ``or`` only ever multiplies the real denominator by 0."""
    bare = _STRING.sub('""', expr)
    depth: list[str] = []
    for char in bare:
        if char in "([{":
            depth.append(char)
        elif char in ")]}":
            assert depth, expr
            assert "([{"[")]}".index(char)] == depth.pop(), expr
    assert not depth, expr
    assert set(re.findall(r"([A-Za-z_]\w*)\s*\(", bare)) <= _FUNCTIONS, expr
    for window in re.findall(r"\[([^\]]*)\]", bare):
        assert _DURATION.match(window), f"bad range {window!r} in {expr}"
    assert "vector(" not in bare, expr
    assert "absent(" not in bare, expr
    assert not re.search(r"\bor\b(?!\s+0 \*)", bare), expr


@pytest.mark.parametrize(("title", "expr"), QUERIES, ids=[f"{t}: {e}" for t, e in QUERIES])
def test_query_reads_metrics_the_gateway_exports(title: str, expr: str) -> None:
    """Every series a query names is one that wawp_gateway.core.metrics.Metrics registers."""
    names = set(re.findall(r"\bgateway_\w+", _STRING.sub('""', expr)))
    assert names, expr
    assert names <= EXPORTED, sorted(names - EXPORTED)


def test_queries_parse_with_promtool(tmp_path: Path) -> None:
    """Prometheus' own parser accepts every query (promtool, when installed: make prometheus)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (make prometheus installs it)")
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr}
                    for i, (_, expr) in enumerate(QUERIES)
                ],
            }
        ]
    }
    path = tmp_path / "queries.yml"
    path.write_text(json.dumps(rules), "utf-8")
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_datasource_variable_starts_on_the_provisioned_prometheus() -> None:
    """${datasource} is a Prometheus datasource variable whose default is the provisioned uid,
    and datasources.yml provisions that uid at http://prometheus:9090."""
    variables = DASHBOARD["templating"]["list"]
    assert [v["name"] for v in variables] == ["datasource"]
    (variable,) = variables
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    assert variable["current"]["value"] == DATASOURCE_UID

    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources.yml").read_text())
    (source,) = provisioned["datasources"]
    assert provisioned["apiVersion"] == 1
    assert (source["uid"], source["type"], source["url"]) == (
        DATASOURCE_UID,
        "prometheus",
        "http://prometheus:9090",
    )


def test_dashboard_provider_loads_files_from_one_folder() -> None:
    """dashboards.yml is a file provider; the dashboard keeps a fixed uid so links survive."""
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "dashboards.yml").read_text())
    (provider,) = provisioned["providers"]
    assert provisioned["apiVersion"] == 1
    assert provider["type"] == "file"
    assert provider["options"]["path"]
    assert DASHBOARD["uid"] == DASHBOARD_UID
