"""The dashboard's rows for what comes back: dead letters, delivery acks and webhooks."""

from __future__ import annotations

from wawp_gateway.ops.panels import (
    RI,
    PanelSpec,
    Query,
    RowSpec,
    quantiles,
)

__all__ = ["RETURN_ROWS"]

RETURN_ROWS: tuple[RowSpec, ...] = (
    RowSpec(
        "Dead letters",
        (
            PanelSpec(
                "DLQ growth by reason",
                "Records written to the dead-letter topic per minute, by reason.",
                (
                    Query(
                        f"60 * sum by (reason) (rate(gateway_dlq_records_total[{RI}]))",
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
                        f'{{ack=~"SERVER|DEVICE|READ"}}[{RI}]))',
                        "{{ack}}",
                    ),
                ),
                "ops",
                6,
            ),
            PanelSpec(
                "Ack latency by level (p50, p99)",
                "Time from a message's send to each ack level it reached.",
                quantiles(
                    "gateway_message_ack_latency_seconds",
                    "ack",
                    (0.5, 0.99),
                    "{{ack}}",
                    exemplars=True,
                ),
                "s",
                6,
            ),
            PanelSpec(
                "Ack timeouts",
                "Sent messages with no DEVICE ack within GATEWAY_TRACKER__ACK_TIMEOUT_S, "
                "per minute.",
                (
                    Query(
                        f"60 * sum(rate(gateway_ack_timeouts_total[{RI}]))",
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
                        f"sum by (result) (rate(gateway_tracked_sends_total[{RI}]))",
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
                        f"sum by (outcome) (rate(gateway_webhook_requests_total[{RI}]))",
                        "{{outcome}}",
                    ),
                ),
                "reqps",
                24,
            ),
        ),
    ),
)
