"""W3C trace context: parsing, carrying a command's context, and the headers written from it."""

from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, Histogram

from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.probes import metrics_payload
from wawp_gateway.core.tracecontext import (
    exemplar,
    http_headers,
    kafka_headers,
    parse_traceparent,
    span_context_of,
    with_trace_headers,
)
from wawp_gateway.core.tracing import NO_TRACE_CONTEXT_ENV, Tracing

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE}-b7ad6b7169203331-01"


def test_a_valid_traceparent_parses_and_bad_ones_do_not() -> None:
    """Version 00 exactly; zero ids, version ff, upper case and short values are refused."""
    context = parse_traceparent(PARENT, "vendor=x")
    assert context is not None
    assert (context.trace_id, context.span_id) == (int(TRACE, 16), 0xB7AD6B7169203331)
    assert context.trace_flags.sampled
    assert context.is_remote
    assert context.trace_state.get("vendor") == "x"
    for bad in (
        f"00-{'0' * 32}-b7ad6b7169203331-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"ff-{TRACE}-b7ad6b7169203331-01",
        PARENT.upper(),
        PARENT[:-1],
        PARENT + "-extra",
        "garbage",
    ):
        assert parse_traceparent(bad) is None, bad
    # A later version may carry more fields: read as version 00.
    later = parse_traceparent(f"01-{TRACE}-b7ad6b7169203331-01-more")
    assert later is not None
    assert later.trace_id == int(TRACE, 16)


def test_headers_that_are_not_ascii_count_as_no_context() -> None:
    assert span_context_of([("traceparent", "é".encode())]) is None
    assert span_context_of([("other", b"x")]) is None


def test_a_command_s_context_is_carried_to_every_header_unchanged() -> None:
    """Not recording: the command's own traceparent and tracestate go out as they came."""
    tracing = Tracing()
    headers = [("traceparent", PARENT.encode()), ("tracestate", b"vendor=x")]
    assert kafka_headers() == []
    with tracing.continuing(headers, "process t", SpanKind.CONSUMER, {}):
        assert kafka_headers() == headers
        assert http_headers() == (("traceparent", PARENT), ("tracestate", "vendor=x"))
        assert exemplar() == {"trace_id": TRACE, "span_id": "b7ad6b7169203331"}
        replaced = with_trace_headers([("traceparent", b"old"), ("dlq-reason", b"auth")])
        assert replaced == [("dlq-reason", b"auth"), *headers]
    assert http_headers() == ()


@pytest.mark.parametrize("state", [b"vendor=x\r\nx-injected: 1", b"vendor=x\nx: 1", b"v=\x00"])
def test_a_tracestate_with_control_characters_is_not_carried(state: bytes) -> None:
    """A line break in a command's tracestate must not become a header line of the Wawp call:
    the traceparent is carried, the tracestate dropped."""
    tracing = Tracing()
    headers = [("traceparent", PARENT.encode()), ("tracestate", state)]
    with tracing.continuing(headers, "process t", SpanKind.CONSUMER, {}):
        assert http_headers() == (("traceparent", PARENT),)
        assert kafka_headers() == [("traceparent", PARENT.encode())]


def test_a_command_without_context_starts_a_new_unsampled_trace() -> None:
    tracing = Tracing()
    with tracing.continuing([("traceparent", b"bad")], "p", SpanKind.CONSUMER, {}) as span:
        ((name, value),) = http_headers()
        assert name == "traceparent"
        assert value.endswith("-00")
        assert int(value[3:35], 16) == span.get_span_context().trace_id
        assert exemplar() is None  # nothing sampled, nothing to link to


def test_the_bench_switch_removes_propagation() -> None:
    tracing = Tracing.from_environ({NO_TRACE_CONTEXT_ENV: "1"}, service="t")
    with tracing.continuing([("traceparent", PARENT.encode())], "p", SpanKind.CONSUMER, {}):
        assert kafka_headers() == []


def test_recorded_spans_continue_the_command_and_name_themselves_in_headers() -> None:
    """With an SDK: the consumer span is the command's child; a child span's own id goes out."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    with tracing.continuing(
        [("traceparent", PARENT.encode())], "process t", SpanKind.CONSUMER, {"a": 1}
    ) as consumer:
        with tracing.span("POST /send", SpanKind.CLIENT, {}) as client:
            assert client is not None
            sent = http_headers()[0][1]
        assert (
            kafka_headers()[0][1].decode().split("-")[2]
            == f"{consumer.get_span_context().span_id:016x}"
        )
    assert sent.split("-")[1] == TRACE
    assert sent.split("-")[2] == f"{client.get_span_context().span_id:016x}"
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["process t"].parent is not None
    assert spans["process t"].parent.span_id == 0xB7AD6B7169203331
    assert spans["POST /send"].parent.span_id == consumer.get_span_context().span_id


def test_a_failed_span_names_the_error_type_only() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    try:
        with tracing.continuing((), "p", SpanKind.CONSUMER, {}):
            raise KeyError("447441429009")
    except KeyError:
        pass
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "KeyError"
    assert not span.events  # no exception event: its message may quote anything


def test_openmetrics_is_served_when_asked_for_with_exemplars() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("gateway_x_seconds", "x", registry=registry)
    with Tracing().continuing([("traceparent", PARENT.encode())], "p", SpanKind.CONSUMER, {}):
        histogram.observe(0.2, exemplar())
    body, content_type = metrics_payload(registry, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert f'trace_id="{TRACE}"' in body.decode()
    plain, plain_type = metrics_payload(registry, "")
    assert plain_type.startswith("text/plain")
    assert b"trace_id" not in plain


def _exemplar_traces(registry: CollectorRegistry) -> list[str]:
    body, _ = metrics_payload(registry, "application/openmetrics-text; version=1.0.0")
    return re.findall(r'trace_id="([0-9a-f]{32})"', body.decode())


def test_a_latency_histogram_takes_one_exemplar_per_bucket_per_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's latency histograms attach the current trace to an observation at most once
    per bucket per second (Prometheus keeps the latest per bucket); other buckets still get
    their own, and a second later the bucket takes a new one."""
    now = [100.0]
    monkeypatch.setattr("wawp_gateway.core.metrics.time.monotonic", lambda: now[0])
    registry = CollectorRegistry()
    duration = Metrics(registry, actions=["sendText"]).command_duration_of("sendText")
    first, second = f"00-{'1' * 32}-b7ad6b7169203331-01", f"00-{'2' * 32}-b7ad6b7169203331-01"

    def observe(parent: str, seconds: float) -> None:
        with Tracing().continuing([("traceparent", parent.encode())], "p", SpanKind.CONSUMER, {}):
            duration.observe(seconds)

    observe(first, 0.02)
    observe(second, 0.02)  # the same bucket within the second: no exemplar
    assert _exemplar_traces(registry) == ["1" * 32]
    observe(second, 7.0)  # another bucket: its own
    assert sorted(_exemplar_traces(registry)) == ["1" * 32, "2" * 32]
    now[0] += 1.0
    observe(second, 0.02)
    assert _exemplar_traces(registry) == ["2" * 32, "2" * 32]
