"""The dashboard's rows for the send path: overview and SLIs, commands, Wawp calls, pacing and
Kafka consumption."""

from __future__ import annotations

from wawp_gateway.ops.panels import (
    CIRCUIT_BY_WAWP_INSTANCE,
    DELIVERY_OBJECTIVE,
    RI,
    SEND_OBJECTIVE,
    SLI_DENOMINATOR,
    SLI_WINDOW,
    PanelSpec,
    Query,
    RowSpec,
    quantiles,
    ratio,
)

__all__ = ["SEND_ROWS"]

SEND_ROWS: tuple[RowSpec, ...] = (
    RowSpec(
        "Overview",
        (
            PanelSpec(
                "Commands/s by status",
                "Commands finished per second, by result status.",
                (
                    Query(
                        f"sum by (status) (rate(gateway_commands_total[{RI}]))",
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
                        ratio(
                            "sum(rate(gateway_commands_total"
                            f'{{status="succeeded"}}[{SLI_WINDOW}]))',
                            "sum(rate(gateway_commands_total"
                            f'{{status=~"{SLI_DENOMINATOR}"}}[{SLI_WINDOW}]))',
                        ),
                        "send success",
                    ),
                ),
                "percentunit",
                3,
                kind="stat",
                objective=SEND_OBJECTIVE,
            ),
            PanelSpec(
                "Delivery success (SLI, 5m)",
                "Tracked sends delivered (DEVICE ack in time) / all tracked sends (delivered, "
                "ack_timeout, failed) over 5 minutes. Green from the objective, 99%.",
                (
                    Query(
                        ratio(
                            "sum(rate(gateway_tracked_sends_total"
                            f'{{result="delivered"}}[{SLI_WINDOW}]))',
                            f"sum(rate(gateway_tracked_sends_total[{SLI_WINDOW}]))",
                        ),
                        "delivery success",
                    ),
                ),
                "percentunit",
                3,
                kind="stat",
                objective=DELIVERY_OBJECTIVE,
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
                        f"sum by (action) (rate(gateway_commands_total[{RI}]))",
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
                        f"sum by (action, status) (rate(gateway_commands_total[{RI}]))",
                        "{{action}} {{status}}",
                    ),
                ),
                "ops",
                6,
            ),
            PanelSpec(
                "Command duration by action (p50, p99)",
                "Receipt of a command to its published result.",
                quantiles(
                    "gateway_command_duration_seconds",
                    "action",
                    (0.5, 0.99),
                    "{{action}}",
                    exemplars=True,
                ),
                "s",
                6,
            ),
            PanelSpec(
                "Idempotency hits by verdict",
                "Commands answered from the idempotency store instead of calling Wawp again.",
                (
                    Query(
                        f"sum by (verdict) (rate(gateway_idempotency_hits_total[{RI}]))",
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
                        f"sum by (status_class) (rate(gateway_wawp_requests_total[{RI}]))",
                        "{{status_class}}",
                    ),
                ),
                "reqps",
                8,
            ),
            PanelSpec(
                "Wawp latency (p50, p90, p99)",
                "Duration of one HTTP call to Wawp, all actions.",
                quantiles(
                    "gateway_wawp_request_duration_seconds",
                    "",
                    (0.5, 0.9, 0.99),
                    "",
                    exemplars=True,
                ),
                "s",
                8,
            ),
            PanelSpec(
                "Errors by status class and DLQ reason",
                "Non-2xx calls to Wawp per second, and commands dead-lettered per second.",
                (
                    Query(
                        "sum by (status_class) (rate(gateway_wawp_requests_total"
                        f'{{status_class!="2xx"}}[{RI}]))',
                        "HTTP {{status_class}}",
                    ),
                    Query(
                        f"sum by (reason) (rate(gateway_dlq_records_total[{RI}]))",
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
                        f"sum(rate(gateway_rate_limit_wait_seconds_count[{RI}]))",
                        "waits",
                    ),
                ),
                "ops",
                8,
            ),
            PanelSpec(
                "Rate-limit wait (p50, p99)",
                "How long a call that had to wait waited.",
                quantiles("gateway_rate_limit_wait_seconds", "", (0.5, 0.99), "wait"),
                "s",
                8,
            ),
            PanelSpec(
                "Retries by reason",
                "Calls to Wawp retried per second, by reason.",
                (
                    Query(
                        f"sum by (reason) (rate(gateway_retries_total[{RI}]))",
                        "{{reason}}",
                    ),
                ),
                "ops",
                8,
            ),
            PanelSpec(
                "Open circuits by instance",
                "1 while the circuit of a Wawp instance is open on any worker.",
                (Query(CIRCUIT_BY_WAWP_INSTANCE, "{{wawp_instance}}"),),
                "short",
                8,
            ),
            PanelSpec(
                "Instances by session status",
                "Instances by the last session status Wawp reported (wawp.sessions). Every "
                "worker reads all of them, so the highest count is the right one.",
                (Query("max by (status) (gateway_instance_sessions)", "{{status}}"),),
                "short",
                8,
            ),
            PanelSpec(
                "Held commands",
                "Commands waiting for a held instance (session not WORKING, a "
                "session_not_working answer, an open circuit), all workers.",
                (Query("sum(gateway_held_commands)", "held"),),
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
                quantiles("gateway_event_loop_lag_seconds", "instance", (0.99,), "{{instance}}"),
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
                quantiles("gateway_state_write_seconds", "", (0.5, 0.99), ""),
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
)
