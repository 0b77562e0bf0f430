"""Prometheus metrics, all created on the registry passed in (tests read it back).

Labels stay bounded: action, status, status_class, reason, ack; never ids or phone numbers. The
``action`` label takes the catalog's actions only (given by the worker); any other name a command
carries counts as ``other``, so hostile or misspelt input cannot grow the series.
"""

from __future__ import annotations

import functools
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from wawp_gateway.core.tracecontext import exemplar

__all__ = ["OTHER", "STATUS_CLASSES", "Metrics", "TracedHistogram", "status_class"]

OTHER = "other"
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "error", OTHER)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def status_class(http_status: int | None) -> str:
    """``1xx``..``5xx``, the transport failure (``error``) when no answer came back, ``other``
    for a status no HTTP server sends (one of ``STATUS_CLASSES``)."""
    if not http_status:
        return "error"
    return f"{http_status // 100}xx" if 100 <= http_status <= 599 else OTHER


def _children(metric: Any) -> Callable[..., Any]:
    """``metric.labels`` with the children cached: label sets are bounded, and ``labels()``
    takes a lock and builds a key on every call of the hot path."""
    return functools.lru_cache(maxsize=4096)(metric.labels)


# Prometheus keeps the latest exemplar of each bucket and reads it once per scrape (15 s or
# more): one per bucket per second loses nothing a dashboard shows, and an exemplar on every
# observation cost more than the observation itself (1.6 against 0.7 us, measured).
_EXEMPLAR_EVERY_S = 1.0


class TracedHistogram:
    """A histogram's child whose observations carry the current trace as an exemplar
    (docs/tracing.md), at most one per bucket per ``_EXEMPLAR_EVERY_S``."""

    __slots__ = ("_bounds", "_child", "_due")

    def __init__(self, child: Any, bounds: Sequence[float]) -> None:
        self._child = child
        self._bounds = tuple(bounds)
        self._due = [0.0] * (len(self._bounds) + 1)  # the last one: +Inf

    def observe(self, amount: float) -> None:
        labels = exemplar()
        if labels is not None:
            bucket = bisect_left(self._bounds, amount)
            now = time.monotonic()
            if now >= self._due[bucket]:
                self._due[bucket] = now + _EXEMPLAR_EVERY_S
                self._child.observe(amount, labels)
                return
        self._child.observe(amount)


def _traced_children(metric: Histogram, bounds: Sequence[float]) -> Callable[..., TracedHistogram]:
    return functools.lru_cache(maxsize=4096)(
        lambda *labels: TracedHistogram(metric.labels(*labels), bounds)
    )


class Metrics:
    def __init__(self, registry: CollectorRegistry, *, actions: Iterable[str] = ()) -> None:
        """``actions``: the values the ``action`` label may take (the catalog's, in the worker);
        anything else is ``other``."""
        self.registry = registry
        self._actions = frozenset(actions)
        self.commands = Counter(
            "gateway_commands",
            "Commands finished, by action and result status.",
            ["action", "status"],
            registry=registry,
        )
        self.wawp_requests = Counter(
            "gateway_wawp_requests",
            "HTTP calls to Wawp, by action and status class.",
            ["action", "status_class"],
            registry=registry,
        )
        self.wawp_duration = Histogram(
            "gateway_wawp_request_duration_seconds",
            "Duration of one HTTP call to Wawp.",
            ["action"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.dlq_records = Counter(
            "gateway_dlq_records",
            "Records written to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.reply_to_errors = Counter(
            "gateway_reply_to_errors",
            "Results that could not go to their reply_to topic and went to the results topic.",
            registry=registry,
        )
        self.rerouted = Counter(
            "gateway_commands_rerouted",
            "Commands forwarded to the partition of their instance.",
            registry=registry,
        )
        self.buffered = Gauge(
            "gateway_buffered_commands",
            "Fetched commands held in memory (waiting in lanes or running).",
            registry=registry,
        )
        self.in_flight = Gauge(
            "gateway_in_flight", "Wawp calls in flight (call slots held).", registry=registry
        )
        self.rate_limit_wait = Histogram(
            "gateway_rate_limit_wait_seconds",
            "Time a call that had to wait waited for its instance's turn "
            "(rate limit, Retry-After, circuit); calls that went at once are not observed.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "gateway_consumer_lag_records",
            "Records not yet consumed, by input topic.",
            ["topic"],
            registry=registry,
        )
        self.command_duration = Histogram(
            "gateway_command_duration_seconds",
            "Time from receipt of a command to its published result.",
            ["action"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.state_write = Histogram(
            "gateway_state_write_seconds",
            "Time from writing a wawp.state record a Wawp call waits for (the in_progress "
            "before every call, a not_sent before a retry) to the broker's acknowledgement.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.loop_lag = Histogram(
            "gateway_event_loop_lag_seconds",
            "How much later than due the process's event loop ran a timer (sampled every "
            "100 ms): the wait any ready work has for its turn when the process is busy.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.state_restore = Histogram(
            "gateway_state_restore_seconds",
            "Time to take over partitions: restore their idempotency records, and the hand-over "
            "wait when the last owner did not release them.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=registry,
        )
        self.state_restored_records = Counter(
            "gateway_state_restored_records",
            "wawp.state records read by restores.",
            registry=registry,
        )
        self.state_keys = Gauge(
            "gateway_state_keys",
            "Idempotency keys held in the store for the owned partitions.",
            registry=registry,
        )
        self.state_evicted_keys = Counter(
            "gateway_state_evicted_keys",
            "Idempotency keys forgotten before their retention ended (the store's key bound).",
            registry=registry,
        )
        self.webhook_requests = Counter(
            "gateway_webhook_requests",
            "Webhook deliveries received, by outcome (published, duplicate, unauthorized, ...).",
            ["outcome"],
            registry=registry,
        )
        self.webhook_dedupe_ids = Gauge(
            "gateway_webhook_dedupe_ids",
            "Webhook event ids held by the receiver's de-duplication window.",
            registry=registry,
        )
        self.webhook_dedupe_evicted = Counter(
            "gateway_webhook_dedupe_evicted_ids",
            "Webhook event ids forgotten before their window ended, to keep the window under "
            "GATEWAY_WEBHOOK__DEDUPE_MAX_IDS.",
            registry=registry,
        )
        self.message_acks = Counter(
            "gateway_message_acks",
            "message.ack events read by the tracker, by ack level name.",
            ["ack"],
            registry=registry,
        )
        self.message_ack_latency = Histogram(
            "gateway_message_ack_latency_seconds",
            "Time from a message's send to each ack level it reached.",
            ["ack"],
            buckets=_ACK_BUCKETS,
            registry=registry,
        )
        self.ack_timeouts = Counter(
            "gateway_ack_timeouts",
            "Sent messages with no DEVICE ack within GATEWAY_TRACKER__ACK_TIMEOUT_S.",
            registry=registry,
        )
        self.oldest_pending_age = Gauge(
            "gateway_oldest_pending_age_seconds",
            "Age of the oldest fetched command not finished yet (0 when none).",
            registry=registry,
        )
        self.paused_partitions = Gauge(
            "gateway_paused_partitions",
            "Input partitions paused: buffers full, or their idempotency records being restored.",
            registry=registry,
        )
        self.retries = Counter(
            "gateway_retries",
            "Calls to Wawp made again after a retryable failure, by the failure "
            "(rate_limited, 4xx, 5xx, transport).",
            ["reason"],
            registry=registry,
        )
        self.idempotency_hits = Counter(
            "gateway_idempotency_hits",
            "Commands settled or held by the idempotency store instead of a call, by verdict "
            "(duplicate, redelivered, conflict, wait, ambiguous).",
            ["verdict"],
            registry=registry,
        )
        self.circuit_open = Gauge(
            "gateway_circuit_open",
            "1 while an instance's circuit is open (its session is down or failing); instances "
            'absent from the instances file share instance="other".',
            ["instance"],
            registry=registry,
        )
        self.instance_sessions = Gauge(
            "gateway_instance_sessions",
            "Instances by their last session status on wawp.sessions (WORKING, STOPPED, "
            "STARTING, SCAN_QR_CODE, FAILED; any other status as other). Every worker reads the "
            "whole topic: aggregate with max, not sum.",
            ["status"],
            registry=registry,
        )
        self.held_commands = Gauge(
            "gateway_held_commands",
            "Commands of this worker waiting for a held instance (session status not WORKING, "
            "a session_not_working answer, or an open circuit).",
            registry=registry,
        )
        self.tracked_sends = Counter(
            "gateway_tracked_sends",
            "Succeeded sends the tracker followed to an end: delivered (DEVICE ack within the ack "
            "timeout), ack_timeout, failed (ERROR ack).",
            ["result"],
            registry=registry,
        )
        self._commands_of = _children(self.commands)
        self._wawp_requests_of = _children(self.wawp_requests)
        self._wawp_duration_of = _traced_children(self.wawp_duration, _LATENCY_BUCKETS)
        self._command_duration_of = _traced_children(self.command_duration, _LATENCY_BUCKETS)
        self.dlq_records_of = _children(self.dlq_records)
        self.webhook_requests_of = _children(self.webhook_requests)
        self.message_acks_of = _children(self.message_acks)
        self.message_ack_latency_of = _traced_children(self.message_ack_latency, _ACK_BUCKETS)
        self.retries_of = _children(self.retries)
        self.idempotency_hits_of = _children(self.idempotency_hits)
        self.tracked_sends_of = _children(self.tracked_sends)

    def action_label(self, action: str | None) -> str:
        """A catalog action as itself; any other name (unknown, misspelt, hostile) as ``other``."""
        return action if action in self._actions else OTHER

    def commands_of(self, action: str | None, status: str) -> Any:
        return self._commands_of(self.action_label(action), status)

    def wawp_requests_of(self, action: str, status_class: str) -> Any:
        return self._wawp_requests_of(self.action_label(action), status_class)

    def wawp_duration_of(self, action: str) -> TracedHistogram:
        return self._wawp_duration_of(self.action_label(action))

    def command_duration_of(self, action: str | None) -> TracedHistogram:
        return self._command_duration_of(self.action_label(action))

    # Each process exposes its bounded label sets at 0 from the start: a counter's first
    # increment is then a step rate() and increase() can see, and an alert on "new dead letters"
    # needs no special case for a series that did not exist before.

    def start_worker_series(self, dlq_reasons: Iterable[str]) -> None:
        for reason in dlq_reasons:
            self.dlq_records_of(reason)
        for reason in ("rate_limited", "4xx", "5xx", "transport"):
            self.retries_of(reason)
        for verdict in ("duplicate", "redelivered", "conflict", "wait", "ambiguous"):
            self.idempotency_hits_of(verdict)

    def start_tracker_series(self, ack_names: Iterable[str]) -> None:
        for name in ack_names:
            self.message_acks_of(name)
        for result in ("delivered", "ack_timeout", "failed"):
            self.tracked_sends_of(result)

    def start_webhook_series(self, outcomes: Iterable[str]) -> None:
        for outcome in outcomes:
            self.webhook_requests_of(outcome)
