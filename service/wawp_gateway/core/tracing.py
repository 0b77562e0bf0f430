"""Trace context (docs/contract.md "Trace context"): W3C propagation always, spans on request.

A command's ``traceparent``/``tracestate`` Kafka headers are continued (a new trace when it has
none) and the work done for it runs with that context as OpenTelemetry's current span, so
whatever the gateway writes for it (the Wawp request, the result, the dead letter, the state
records) carries the same trace id: ``kafka_headers()`` and ``http_headers()`` read it.

Spans are recorded only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its ``_TRACES_`` form) is set
(``Tracing.from_environ``); they go out over OTLP/HTTP in batches from the SDK's thread.
Without an endpoint nothing is recorded and the context costs a header parse per command: the
command's own span context stands for the gateway's spans (what OpenTelemetry's API does
without an SDK). Attributes never hold a token, a phone number or message text: names, topics,
partitions, offsets, ids and status codes only.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.util.types import AttributeValue

from wawp_gateway import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Sampler

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "TRACE_HEADERS",
    "Attributes",
    "Tracing",
    "add_event",
    "exemplar",
    "http_headers",
    "kafka_headers",
    "parse_traceparent",
    "set_attributes",
    "span_context_of",
    "with_trace_headers",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE})
_HEX = frozenset("0123456789abcdef")

Attributes = Mapping[str, AttributeValue]


def parse_traceparent(value: str, tracestate: str | None = None) -> SpanContext | None:
    """A remote span context from W3C ``traceparent`` (and ``tracestate``); None when invalid."""
    # version-traceid-parentid-flags; a later version may append fields after the fourth.
    if len(value) < 55 or value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    version, trace_hex, span_hex, flags_hex = value[:2], value[3:35], value[36:52], value[53:55]
    if version == "ff" or (version == "00" and len(value) != 55):
        return None
    if not _HEX.issuperset(version + trace_hex + span_hex + flags_hex):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    state = TraceState.from_header([tracestate]) if tracestate else None
    return SpanContext(
        trace_id,
        span_id,
        is_remote=True,
        trace_flags=TraceFlags(int(flags_hex, 16)),
        trace_state=state,
    )


def span_context_of(headers: Iterable[tuple[str, bytes]]) -> SpanContext | None:
    """The trace context carried by Kafka ``headers``, if any (a bad one counts as none)."""
    parent: bytes | None = None
    state: bytes | None = None
    for name, value in headers:
        if name == TRACEPARENT:
            parent = value
        elif name == TRACESTATE:
            state = value
    if parent is None:
        return None
    try:
        return parse_traceparent(
            parent.decode("ascii"), state.decode("ascii") if state is not None else None
        )
    except UnicodeDecodeError:
        return None


def _traceparent(span_context: SpanContext) -> str:
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{span_context.trace_flags:02x}"
    )


def _current() -> SpanContext | None:
    span_context = trace.get_current_span().get_span_context()
    return span_context if span_context.is_valid else None


def kafka_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka headers ([] outside any trace)."""
    span_context = _current()
    if span_context is None:
        return []
    headers = [(TRACEPARENT, _traceparent(span_context).encode())]
    if span_context.trace_state:
        headers.append((TRACESTATE, span_context.trace_state.to_header().encode()))
    return headers


def http_headers() -> tuple[tuple[str, str], ...]:
    """The current trace context as HTTP header fields (() outside any trace)."""
    span_context = _current()
    if span_context is None:
        return ()
    if span_context.trace_state:
        return (
            (TRACEPARENT, _traceparent(span_context)),
            (TRACESTATE, span_context.trace_state.to_header()),
        )
    return ((TRACEPARENT, _traceparent(span_context)),)


def with_trace_headers(headers: Iterable[tuple[str, bytes]] | None) -> list[tuple[str, bytes]]:
    """``headers`` with their trace context replaced by the current one."""
    own = kafka_headers()
    if not headers:
        return own
    return [h for h in headers if h[0] not in TRACE_HEADERS] + own


def exemplar() -> dict[str, str] | None:
    """Labels of an exemplar for the current trace, when it is sampled (else None)."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid or not span_context.trace_flags.sampled:
        return None
    return {"trace_id": f"{span_context.trace_id:032x}", "span_id": f"{span_context.span_id:016x}"}


def add_event(name: str, attributes: Attributes) -> None:
    """An event on the current span, when it is recorded."""
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, attributes)


def set_attributes(attributes: Attributes) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(attributes)


def _new_root(flags: TraceFlags) -> SpanContext:
    return SpanContext(
        random.getrandbits(128) or 1, random.getrandbits(64) or 1, False, trace_flags=flags
    )


class Tracing:
    """One process's tracing: a tracer when spans are exported, else propagation only."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._provider = provider
        self._tracer = (
            provider.get_tracer("wawp_gateway", __version__) if provider is not None else None
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, service: str) -> Tracing:
        """Spans exported over OTLP/HTTP when ``environ`` names an endpoint; else none.

        ``OTEL_SERVICE_NAME`` (default ``service``) and ``OTEL_TRACES_SAMPLER`` (with
        ``OTEL_TRACES_SAMPLER_ARG``; default ``parentbased_always_on``) keep their meaning."""
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if not endpoint:
            base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            if not base:
                return cls()
            endpoint = base.rstrip("/") + "/v1/traces"
        # Imported here: the SDK, requests and protobuf load only in processes that export.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource(
            {
                "service.name": environ.get("OTEL_SERVICE_NAME") or service,
                "service.version": __version__,
            }
        )
        provider = TracerProvider(resource=resource, sampler=_sampler(environ))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        return cls(provider)

    @property
    def recording(self) -> bool:
        return self._tracer is not None

    def shutdown(self) -> None:
        """Export what is left and stop the exporter's thread (blocks up to its timeout)."""
        if self._provider is not None:
            self._provider.shutdown()

    def force_flush(self, timeout_ms: int = 10_000) -> bool:
        return self._provider.force_flush(timeout_ms) if self._provider is not None else True

    @contextmanager
    def continuing(
        self,
        parent: SpanContext | None,
        name: str,
        kind: SpanKind,
        attributes: Attributes,
        *,
        start_time: int | None = None,
        sample_new: bool = False,
    ) -> Iterator[Span]:
        """Make a span, child of ``parent`` (a new trace when None), the current one;
        ``start_time`` in nanoseconds since the epoch (default: now). A new trace that is not
        recorded here is flagged sampled only with ``sample_new`` (a caller asking the services
        downstream to record it), else not."""
        span: Span
        if self._tracer is None:
            # Nothing recorded: the parent stands for our span; a new trace is not sampled.
            flags = TraceFlags(TraceFlags.SAMPLED if sample_new else TraceFlags.DEFAULT)
            span = NonRecordingSpan(parent or _new_root(flags))
        else:
            parent_context = (
                trace.set_span_in_context(NonRecordingSpan(parent))
                if parent is not None
                else otel_context.Context()
            )
            span = self._tracer.start_span(
                name,
                parent_context,
                kind,
                attributes,
                start_time=start_time,
            )
        with _current_for(span):
            yield span

    @contextmanager
    def span(self, name: str, kind: SpanKind, attributes: Attributes) -> Iterator[Span | None]:
        """A child of the current span, made current; None (and nothing made) when not
        recording."""
        if self._tracer is None:
            yield None
            return
        span = self._tracer.start_span(name, kind=kind, attributes=attributes)
        with _current_for(span):
            yield span


@contextmanager
def _current_for(span: Span) -> Iterator[None]:
    """``span`` current inside the block and ended after it; a failure sets only its
    ``error.type`` (an exception's text may quote what attributes must not hold)."""
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    except BaseException as exc:
        if span.is_recording():
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR))
        raise
    finally:
        otel_context.detach(token)
        span.end()


def _sampler(environ: Mapping[str, str]) -> Sampler:
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        ParentBased,
        TraceIdRatioBased,
    )

    name = environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    try:
        ratio = float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        ratio = 1.0
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(TraceIdRatioBased(ratio)),
    }
    return samplers.get(name, samplers["parentbased_always_on"])
