"""The Prometheus rules in deploy/prometheus: valid, unit-tested by promtool, and each alert with a
firing case, a silent case and a runbook section."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .prometheus import DEPLOY_DIR, PrometheusMissing, find_binary, rule_files

REPO = DEPLOY_DIR.parents[1]
RUNBOOKS = REPO / "docs" / "runbooks.md"
DASHBOARD = REPO / "deploy" / "grafana" / "wawp-gateway.json"
TEST_FILES = sorted((DEPLOY_DIR / "tests").glob("*.yml"))
SEVERITIES = {"page", "ticket"}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@functools.cache
def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _rules() -> list[dict[str, Any]]:
    return [
        rule for path in rule_files() for group in _load(path)["groups"] for rule in group["rules"]
    ]


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _alert_cases() -> list[tuple[Path, str, dict[str, Any]]]:
    """(test file, test group name, alert_rule_test case) for every case of every test file."""
    return [
        (path, group.get("name", ""), case)
        for path in TEST_FILES
        for group in _load(path)["tests"]
        for case in group.get("alert_rule_test", [])
    ]


def _seconds(duration: str) -> float:
    """A Prometheus duration (``1h30m``, ``5m``, ``0s``) in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNIT_S[u] for n, u in parts)


def _anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _panel_titles(panels: list[dict[str, Any]]) -> set[str]:
    return {p["title"] for p in panels} | {
        title for p in panels for title in _panel_titles(p.get("panels", []))
    }


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        binary = find_binary("promtool")
    except PrometheusMissing as exc:
        pytest.fail(str(exc))
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=60, check=False, cwd=REPO
    )


def test_the_example_config_loads_every_rule_file() -> None:
    """prometheus.yml lists each rule file of deploy/prometheus, and promtool accepts it."""
    on_disk = {p for p in DEPLOY_DIR.glob("*.yml") if p.name != "prometheus.yml"}

    checked = _promtool("check", "config", str(DEPLOY_DIR / "prometheus.yml"))

    assert set(rule_files()) == on_disk
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_rule_file_is_valid(path: Path) -> None:
    """promtool check rules: syntax, PromQL, templates, duplicate names."""
    checked = _promtool("check", "rules", str(path))

    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(path: Path) -> None:
    """promtool test rules: every expected alert, annotation and recorded value."""
    tested = _promtool("test", "rules", str(path))

    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_unit_tests_load_the_shipped_rules(path: Path) -> None:
    """Each test file evaluates all the rule files together, as Prometheus does."""
    loaded = {(path.parent / name).resolve() for name in _load(path)["rule_files"]}

    assert loaded == set(rule_files())


@pytest.mark.parametrize("alertname", sorted(_alerts()))
def test_every_alert_has_a_firing_and_a_silent_case(alertname: str) -> None:
    """A silent case only counts once the alert's ``for`` has passed: before that no alert
    fires whatever the data."""
    hold = _seconds(_alerts()[alertname].get("for", "0s"))
    cases = [case for _, _, case in _alert_cases() if case["alertname"] == alertname]

    firing = [case for case in cases if case.get("exp_alerts")]
    silent = [
        case for case in cases if not case.get("exp_alerts") and _seconds(case["eval_time"]) >= hold
    ]

    assert firing, f"no promtool case where {alertname} fires"
    assert silent, f"no promtool case where {alertname} stays silent after its `for`"


def test_unit_tests_name_only_defined_alerts() -> None:
    """promtool passes a silent case for an alert that does not exist: a typo would hide."""
    named = {(path.name, group, case["alertname"]) for path, group, case in _alert_cases()}

    assert {entry for entry in named if entry[2] not in _alerts()} == set()


@pytest.mark.parametrize("alertname", sorted(_alerts()))
def test_every_alert_has_severity_annotations_and_runbook(alertname: str) -> None:
    """severity page|ticket, a summary and description, and a runbook_url whose section exists."""
    rule = _alerts()[alertname]
    url = rule["annotations"]["runbook_url"]
    page, _, fragment = url.partition("#")
    runbook = REPO / page
    anchors = {
        _anchor(line.lstrip("#"))
        for line in (runbook.read_text().splitlines() if runbook.is_file() else [])
        if line.startswith("#")
    }

    assert rule["labels"]["severity"] in SEVERITIES
    assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
    assert runbook.is_file(), f"{alertname}: {page} does not exist"
    assert fragment == alertname.lower()
    assert fragment in anchors, f"{alertname}: no section #{fragment} in {page}"


def test_rules_do_not_fill_missing_data_with_constants() -> None:
    """``or vector(0)`` turns "no data" into "healthy"; fallbacks must come from real series."""
    offending = [
        rule.get("alert") or rule["record"]
        for rule in _rules()
        if re.search(r"\bvector\s*\(", rule["expr"])
    ]

    assert offending == []


def test_recording_rules_follow_the_naming_convention() -> None:
    """``level:metric:operations`` (Prometheus' recording rule naming), level = the by() labels."""
    names = [rule["record"] for rule in _rules() if "record" in rule]

    assert names
    assert [n for n in names if not re.fullmatch(r"job:gateway_[a-z_]+:[a-z0-9_]+", n)] == []


def test_runbooks_name_only_what_the_dashboard_shows() -> None:
    """Quoted names in the runbooks' prose are the dashboard's title, its rows or its panels, so a
    renamed panel cannot leave an on-call engineer looking for it."""
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {dashboard["title"]} | _panel_titles(dashboard["panels"])
    prose = re.sub(r"```.*?```", "", RUNBOOKS.read_text(), flags=re.DOTALL)
    prose = re.sub(r"`[^`\n]*`", "", prose)

    panels = set(re.findall(r'"([^"\n]+)"', prose))
    rows = set(re.findall(r'\*([^*\n]+)\*:? "', prose))

    assert panels
    assert rows
    assert (panels | rows) - titles == set()
