"""The real Prometheus server (tests/ops/prometheus.py) scraping the gateway's metrics, as the
shipped rules will see them."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from wawp_gateway.core.metrics import Metrics
from wawp_gateway.wawp.catalog import ACTIONS

from .prometheus import DEPLOY_DIR, PrometheusServer, Sample, running_prometheus

JOB = "wawp-gateway-worker"
WAWP_INSTANCE = "ABC123DEF456"


# One server for the module: Prometheus scrapes a new target only after about five seconds (its
# target updates are throttled), so each start costs that much. The tests use distinct series.
@pytest.fixture(scope="module")
def metrics() -> Iterator[tuple[Metrics, str]]:
    """The gateway's metrics on their own registry, served on a free port of 127.0.0.1."""
    registry = CollectorRegistry()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield Metrics(registry, actions=ACTIONS), f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def prometheus(
    metrics: tuple[Metrics, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    _, target = metrics
    with running_prometheus({JOB: [target]}, tmp_path_factory.mktemp("prometheus")) as server:
        yield server


def _one_number(result: list[Sample]) -> bool:
    return len(result) == 1 and not math.isnan(result[0].value)


def _alert_expr(alertname: str) -> str:
    groups = yaml.safe_load((DEPLOY_DIR / "alerts.yml").read_text())["groups"]
    return str(next(r["expr"] for g in groups for r in g["rules"] if r.get("alert") == alertname))


def test_send_sli_is_recorded_from_a_scraped_worker(
    metrics: tuple[Metrics, str], prometheus: PrometheusServer
) -> None:
    """9 of 10 finished commands succeed (rejections left out): the 5m SLI reads 0.9."""
    # Given: the children exist before the first scrape, so both series start together
    gateway, _ = metrics
    for status in ("succeeded", "failed", "rejected"):
        gateway.commands_of("sendText", status)
    prometheus.wait_for(f'up{{job="{JOB}"}} == 1', lambda result: len(result) == 1, timeout=15)

    # When
    gateway.commands_of("sendText", "succeeded").inc(9)
    gateway.commands_of("sendText", "failed").inc(1)
    gateway.commands_of("sendText", "rejected").inc(5)

    # Then
    sli = prometheus.wait_for("job:gateway_send_success:ratio_rate5m", _one_number, timeout=15)
    assert sli[0].labels == {"__name__": "job:gateway_send_success:ratio_rate5m", "job": JOB}
    assert sli[0].value == pytest.approx(0.9)
    assert [r for r in prometheus.rule_health() if r["health"] == "err"] == []


def test_session_alert_names_the_wawp_instance_not_the_target(
    metrics: tuple[Metrics, str], prometheus: PrometheusServer
) -> None:
    """The scrape renames the metric's `instance` label; the alert still finds the Wawp instance."""
    gateway, target = metrics
    gateway.circuit_open.labels(WAWP_INSTANCE).set(1)
    gateway.circuit_open.labels("other").set(0)

    held = prometheus.wait_for(
        _alert_expr("GatewayInstanceSessionDown"), lambda result: len(result) == 1, timeout=15
    )

    assert held[0].labels == {"job": JOB, "wawp_instance": WAWP_INSTANCE}
    assert (
        prometheus.query(f'gateway_circuit_open{{exported_instance="{WAWP_INSTANCE}"}}')[0].labels[
            "instance"
        ]
        == target
    )
