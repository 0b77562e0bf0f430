"""Every metric label has a bounded set of values, whatever the input: the catalog's actions
(anything else is ``other``), enums of the contract, fixed outcome lists, or sets the operator
configures (input topics, listed instances)."""

from __future__ import annotations

from typing import get_args

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from wawp_gateway.core.contracts import DlqReason, ResultStatus
from wawp_gateway.core.metrics import OTHER, STATUS_CLASSES, Metrics, status_class
from wawp_gateway.tracker.delivery import ACK_NAMES, ack_name
from wawp_gateway.wawp.catalog import ACTIONS
from wawp_gateway.webhook.checks import Outcome
from wawp_gateway.worker.sessions import SESSION_STATUSES
from wawp_gateway.worker.state.idempotency import Verdict

ACTION_VALUES = frozenset(ACTIONS) | {OTHER}
ACK_VALUES = frozenset(ACK_NAMES.values()) | {"UNKNOWN"}
# (metric, label) -> its values, or the setting that bounds them.
DOMAINS: dict[tuple[str, str], frozenset[str] | str] = {
    ("gateway_commands", "action"): ACTION_VALUES,
    ("gateway_commands", "status"): frozenset(s.value for s in ResultStatus),
    ("gateway_wawp_requests", "action"): ACTION_VALUES,
    ("gateway_wawp_requests", "status_class"): frozenset(STATUS_CLASSES),
    ("gateway_wawp_request_duration_seconds", "action"): ACTION_VALUES,
    ("gateway_command_duration_seconds", "action"): ACTION_VALUES,
    ("gateway_dlq_records", "reason"): frozenset(r.value for r in DlqReason),
    ("gateway_consumer_lag_records", "topic"): "GATEWAY_TOPICS__SEND and __COMMAND",
    ("gateway_webhook_requests", "outcome"): frozenset(get_args(Outcome)),
    ("gateway_message_acks", "ack"): ACK_VALUES,
    ("gateway_message_ack_latency_seconds", "ack"): ACK_VALUES,
    ("gateway_retries", "reason"): frozenset(STATUS_CLASSES) | {"rate_limited", "transport"},
    ("gateway_idempotency_hits", "verdict"): frozenset(v.value for v in Verdict),
    ("gateway_circuit_open", "instance"): "GATEWAY_INSTANCES_FILE, plus other",
    ("gateway_tracked_sends", "result"): frozenset({"delivered", "ack_timeout", "failed"}),
    ("gateway_instance_sessions", "status"): frozenset(SESSION_STATUSES) | {OTHER},
}


def _metrics() -> Metrics:
    return Metrics(CollectorRegistry(), actions=ACTIONS)


def test_every_labelled_metric_has_a_declared_domain() -> None:
    """A new label must say here what bounds it."""
    metrics = _metrics()
    labelled = {
        (metric._name, label)
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for label in metric._labelnames
    }
    assert labelled == set(DOMAINS)


@given(st.one_of(st.none(), st.text(max_size=80)))
def test_any_action_name_is_a_catalog_action_or_other(name: str | None) -> None:
    label = _metrics().action_label(name)
    assert label in ACTION_VALUES
    assert label == (name if name in ACTIONS else OTHER)


@given(st.one_of(st.none(), st.integers(min_value=-(10**6), max_value=10**6)))
def test_any_status_falls_in_a_status_class(status: int | None) -> None:
    assert status_class(status) in STATUS_CLASSES


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_any_ack_level_has_a_bounded_name(ack: int) -> None:
    assert ack_name(ack) in ACK_VALUES


def test_a_thousand_unknown_actions_make_one_series_per_status() -> None:
    """Counting commands and durations for 1,000 made-up actions adds only action="other"."""
    metrics = _metrics()
    metrics.commands_of("sendText", "succeeded").inc()
    for n in range(1_000):
        name = f"madeUp{n}"
        metrics.commands_of(name, "rejected").inc()
        metrics.command_duration_of(name).observe(0.01)
        metrics.wawp_requests_of(name, "error").inc()
        metrics.wawp_duration_of(name).observe(0.01)

    actions = {
        sample.labels["action"]
        for family in metrics.registry.collect()
        for sample in family.samples
        if "action" in sample.labels
    }
    assert actions == {"sendText", OTHER}
    other = {"action": OTHER, "status": "rejected"}
    assert metrics.registry.get_sample_value("gateway_commands_total", other) == 1_000
