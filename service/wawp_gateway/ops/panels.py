"""What the gateway's Grafana dashboard shows: rows of panels, each with its PromQL.

Plain data, rendered into Grafana's JSON model by ``dashboard``. Queries use Grafana's
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

__all__ = ["RATE_INTERVAL", "ROWS", "PanelSpec", "Query", "RowSpec", "Unit", "panel_queries"]

# Grafana unit ids: ops/s, ops/min, requests/s, 0..1 shown as %, plain number, seconds.
Unit = Literal["ops", "opm", "reqps", "percentunit", "short", "s"]

RATE_INTERVAL = "$__rate_interval"
# The SLI stats use the shortest window and the objectives of the recording and alerting rules
# (deploy/prometheus: job:gateway_send_success:ratio_rate5m, ...), so that the dashboard and the
# alerts read the same numbers.
_SLI_WINDOW = "5m"
_SEND_OBJECTIVE = 0.995
_DELIVERY_OBJECTIVE = 0.99
_RI = RATE_INTERVAL
_SLI_DENOMINATOR = "|".join(
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


def _ratio(good: str, total: str) -> str:
    """``good / total`` where ``good`` may have no series yet: a labelled counter appears on its
    first increment, so with traffic but no success the plain ratio would be missing rather than
    0. ``0 * total`` fills in only where ``total`` has data; with no traffic the ratio stays
    missing, as it should."""
    return f"({good} or 0 * {total}) / {total}"


def _quantiles(metric: str, by: str, qs: tuple[float, ...], legend: str) -> tuple[Query, ...]:
    """``histogram_quantile`` per ``q`` over ``<metric>_bucket``, grouped by ``by`` (and ``le``)."""
    labels = f"{by}, le" if by else "le"
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({labels}) (rate({metric}_bucket[{_RI}])))",
            f"{legend} p{round(q * 100)}".strip(),
        )
        for q in qs
    )


# gateway_circuit_open's `instance` label (a Wawp instance) collides with the scrape target's
# `instance`: Prometheus keeps the metric's value as `exported_instance` unless the scrape job
# honours labels. Reading both keeps the panel right under either scrape configuration.
_CIRCUIT_BY_WAWP_INSTANCE = (
    "max by (wawp_instance) (label_replace(label_replace(gateway_circuit_open,"
    ' "wawp_instance", "$1", "instance", "(.*)"),'
    ' "wawp_instance", "$1", "exported_instance", "(.+)"))'
)

ROWS: tuple[RowSpec, ...] = (
    RowSpec(
        "Overview",
        (
            PanelSpec(
                "Commands/s by status",
                "Commands finished per second, by result status.",
                (
                    Query(
                        f"sum by (status) (rate(gateway_commands_total[{_RI}]))",
                        "{{status}}",
                    ),
                ),
                "ops",
                12,
            ),
            PanelSpec(
                "Send success (SLI, 5m)",
                "Succeeded / (succeeded + failed + outcome_unknown + expired) over 5 minutes; "
                "rejected (bad input) and duplicate commands are not counted. Green from the "
                "objective, 99.5%.",
                (
                    Query(
                        _ratio(
                            "sum(rate(gateway_commands_total"
                            f'{{status="succeeded"}}[{_SLI_WINDOW}]))',
                            "sum(rate(gateway_commands_total"
                            f'{{status=~"{_SLI_DENOMINATOR}"}}[{_SLI_WINDOW}]))',
                        ),
                        "send success",
                    ),
                ),
                "percentunit",
                3,
                kind="stat",
                objective=_SEND_OBJECTIVE,
            ),
            PanelSpec(
                "Delivery success (SLI, 5m)",
                "Tracked sends delivered (DEVICE ack in time) / all tracked sends (delivered, "
                "ack_timeout, failed) over 5 minutes. Green from the objective, 99%.",
                (
                    Query(
                        _ratio(
                            "sum(rate(gateway_tracked_sends_total"
                            f'{{result="delivered"}}[{_SLI_WINDOW}]))',
                            f"sum(rate(gateway_tracked_sends_total[{_SLI_WINDOW}]))",
                        ),
                        "delivery success",
                    ),
                ),
                "percentunit",
                3,
                kind="stat",
                objective=_DELIVERY_OBJECTIVE,
            ),
            PanelSpec(
                "In flight",
                "Commands being processed, all workers.",
                (Query("sum(gateway_in_flight)", "in flight"),),
                "short",
                3,
                kind="stat",
            ),
            PanelSpec(
                "Buffered",
                "Fetched commands held in memory (waiting in lanes or running), all workers.",
                (Query("sum(gateway_buffered_commands)", "buffered"),),
                "short",
                3,
                kind="stat",
            ),
        ),
    ),
    RowSpec(
        "Commands",
        (
            PanelSpec(
                "Throughput by action",
                "Commands finished per second, by action.",
                (
                    Query(
                        f"sum by (action) (rate(gateway_commands_total[{_RI}]))",
                        "{{action}}",
                    ),
                ),
                "ops",
                6,
            ),
            PanelSpec(
                "Outcomes by action and status",
                "Commands finished per second, by action and result status.",
                (
                    Query(
                        f"sum by (action, status) (rate(gateway_commands_total[{_RI}]))",
                        "{{action}} {{status}}",
                    ),
                ),
                "ops",
                6,
            ),
            PanelSpec(
                "Command duration by action (p50, p99)",
                "Receipt of a command to its published result.",
                _quantiles("gateway_command_duration_seconds", "action", (0.5, 0.99), "{{action}}"),
                "s",
                6,
            ),
            PanelSpec(
                "Idempotency hits by verdict",
                "Commands answered from the idempotency store instead of calling Wawp again.",
                (
                    Query(
                        f"sum by (verdict) (rate(gateway_idempotency_hits_total[{_RI}]))",
                        "{{verdict}}",
                    ),
                ),
                "ops",
                6,
            ),
        ),
    ),
    RowSpec(
        "Upstream (Wawp)",
        (
            PanelSpec(
                "Wawp requests by status class",
                "HTTP calls to Wawp per second; `error` is a call that got no answer.",
                (
                    Query(
                        f"sum by (status_class) (rate(gateway_wawp_requests_total[{_RI}]))",
                        "{{status_class}}",
                    ),
                ),
                "reqps",
                8,
            ),
            PanelSpec(
                "Wawp latency (p50, p90, p99)",
                "Duration of one HTTP call to Wawp, all actions.",
                _quantiles("gateway_wawp_request_duration_seconds", "", (0.5, 0.9, 0.99), ""),
                "s",
                8,
            ),
            PanelSpec(
                "Errors by status class and DLQ reason",
                "Non-2xx calls to Wawp per second, and commands dead-lettered per second.",
                (
                    Query(
                        "sum by (status_class) (rate(gateway_wawp_requests_total"
                        f'{{status_class!="2xx"}}[{_RI}]))',
                        "HTTP {{status_class}}",
                    ),
                    Query(
                        f"sum by (reason) (rate(gateway_dlq_records_total[{_RI}]))",
                        "DLQ {{reason}}",
                    ),
                ),
                "ops",
                8,
            ),
        ),
    ),
    RowSpec(
        "Pacing",
        (
            PanelSpec(
                "Rate-limit waits/s",
                "Calls that had to wait for their instance's turn (rate limit, Retry-After, "
                "circuit); calls that went at once are not counted.",
                (
                    Query(
                        f"sum(rate(gateway_rate_limit_wait_seconds_count[{_RI}]))",
                        "waits",
                    ),
                ),
                "ops",
                8,
            ),
            PanelSpec(
                "Rate-limit wait (p50, p99)",
                "How long a call that had to wait waited.",
                _quantiles("gateway_rate_limit_wait_seconds", "", (0.5, 0.99), "wait"),
                "s",
                8,
            ),
            PanelSpec(
                "Retries by reason",
                "Calls to Wawp retried per second, by reason.",
                (
                    Query(
                        f"sum by (reason) (rate(gateway_retries_total[{_RI}]))",
                        "{{reason}}",
                    ),
                ),
                "ops",
                8,
            ),
            PanelSpec(
                "Open circuits by instance",
                "1 while the circuit of a Wawp instance is open on any worker.",
                (Query(_CIRCUIT_BY_WAWP_INSTANCE, "{{wawp_instance}}"),),
                "short",
                8,
            ),
            PanelSpec(
                "Paused partitions",
                "Input partitions paused for back-pressure, all workers.",
                (Query("sum(gateway_paused_partitions)", "paused"),),
                "short",
                8,
            ),
            PanelSpec(
                "Worker event loop lag (p99)",
                "How late each worker's event loop runs a timer due now: every fetch, state "
                "acknowledgement and Wawp answer waits about this long when the worker is the "
                "bottleneck (then add workers, up to the partition count).",
                _quantiles("gateway_event_loop_lag_seconds", "instance", (0.99,), "{{instance}}"),
                "s",
                8,
            ),
        ),
    ),
    RowSpec(
        "Kafka",
        (
            PanelSpec(
                "Consumer lag by topic",
                "Records not yet consumed, by input topic.",
                (
                    Query(
                        "sum by (topic) (gateway_consumer_lag_records)",
                        "{{topic}}",
                    ),
                ),
                "short",
                6,
            ),
            PanelSpec(
                "Oldest pending command age",
                "Age of the oldest fetched command not yet finished, worst worker.",
                (Query("max(gateway_oldest_pending_age_seconds)", "oldest pending"),),
                "s",
                6,
            ),
            PanelSpec(
                "Idempotency keys in memory",
                "Idempotency keys held for the owned partitions, all workers.",
                (Query("sum(gateway_state_keys)", "keys"),),
                "short",
                4,
            ),
            PanelSpec(
                "State write acknowledgement",
                "Time for the broker to acknowledge a wawp.state record. The in_progress record "
                "before every Wawp call waits for it: a slow broker shows here first.",
                _quantiles("gateway_state_write_seconds", "", (0.5, 0.99), ""),
                "s",
                4,
            ),
            PanelSpec(
                # Restores are rare (start, rebalance), so a rate window is mostly empty; the
                # mean since the process started keeps the last known cost on screen.
                "State restore duration (mean per worker)",
                "Time to take over partitions (restore plus hand-over wait), mean since the "
                "worker started.",
                (
                    Query(
                        "sum by (instance) (gateway_state_restore_seconds_sum)"
                        # Only processes that restored: the receiver and the tracker expose the
                        # histogram too, and 0 / 0 would show as empty series beside the worker.
                        " / (sum by (instance) (gateway_state_restore_seconds_count) > 0)",
                        "{{instance}}",
                    ),
                ),
                "s",
                4,
            ),
        ),
    ),
    RowSpec(
        "Dead letters",
        (
            PanelSpec(
                "DLQ growth by reason",
                "Records written to the dead-letter topic per minute, by reason.",
                (
                    Query(
                        f"60 * sum by (reason) (rate(gateway_dlq_records_total[{_RI}]))",
                        "{{reason}}",
                    ),
                ),
                "opm",
                16,
                bars=True,
            ),
            PanelSpec(
                "DLQ records by reason (24h)",
                "Records written to the dead-letter topic over the last 24 hours, by reason.",
                (
                    Query(
                        "sum by (reason) (increase(gateway_dlq_records_total[24h]))",
                        "{{reason}}",
                    ),
                ),
                "short",
                8,
                kind="stat",
            ),
        ),
    ),
    RowSpec(
        "Delivery",
        (
            PanelSpec(
                "Ack funnel: acks by level",
                "message.ack events per second reaching SERVER, then DEVICE, then READ.",
                (
                    Query(
                        "sum by (ack) (rate(gateway_message_acks_total"
                        f'{{ack=~"SERVER|DEVICE|READ"}}[{_RI}]))',
                        "{{ack}}",
                    ),
                ),
                "ops",
                6,
            ),
            PanelSpec(
                "Ack latency by level (p50, p99)",
                "Time from a message's send to each ack level it reached.",
                _quantiles("gateway_message_ack_latency_seconds", "ack", (0.5, 0.99), "{{ack}}"),
                "s",
                6,
            ),
            PanelSpec(
                "Ack timeouts",
                "Sent messages with no DEVICE ack within GATEWAY_TRACKER__ACK_TIMEOUT_S, "
                "per minute.",
                (
                    Query(
                        f"60 * sum(rate(gateway_ack_timeouts_total[{_RI}]))",
                        "ack timeouts",
                    ),
                ),
                "opm",
                6,
                bars=True,
            ),
            PanelSpec(
                "Tracked sends by result",
                "Sends whose delivery the tracker settled, per second: delivered, ack_timeout, "
                "failed.",
                (
                    Query(
                        f"sum by (result) (rate(gateway_tracked_sends_total[{_RI}]))",
                        "{{result}}",
                    ),
                ),
                "ops",
                6,
            ),
        ),
    ),
    RowSpec(
        "Webhooks",
        (
            PanelSpec(
                "Webhook intake by outcome",
                "Webhook deliveries received per second, by outcome (published, duplicate, "
                "unauthorized, ...).",
                (
                    Query(
                        f"sum by (outcome) (rate(gateway_webhook_requests_total[{_RI}]))",
                        "{{outcome}}",
                    ),
                ),
                "reqps",
                24,
            ),
        ),
    ),
)


def panel_queries(*, rate_interval: str = "1m") -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel, in dashboard order, with Grafana's
    ``$__rate_interval`` replaced by ``rate_interval`` so that Prometheus runs it as is."""
    return [
        (spec.title, query.expr.replace(RATE_INTERVAL, rate_interval))
        for row in ROWS
        for spec in row.panels
        for query in spec.queries
    ]
