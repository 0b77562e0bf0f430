"""Spans (docs/contract.md "Trace context"): recorded and exported over OTLP/HTTP on request.

A command's trace context is always continued (``tracecontext``): what the gateway writes for it
carries the same trace id. Spans are recorded only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its
``_TRACES_`` form) is set (``Tracing.from_environ``); they leave in batches from the SDK's thread.
Without an endpoint nothing is recorded, and the trace context is carried as it came (a new
trace's when there was none), which costs a header lookup per command. Attributes never hold a
token, a phone number or message text: names, topics, partitions, offsets, ids and status codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from wawp_gateway import __version__
from wawp_gateway.core.tracecontext import Carrier, Carrying, is_carried, span_context_of

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Sampler

__all__ = ["NO_TRACE_CONTEXT_ENV", "Attributes", "Tracing", "add_event"]

# For the benchmark only (bench/README.md): "1" removes propagation, the baseline of its cost.
NO_TRACE_CONTEXT_ENV = "WAWP_GATEWAY_BENCH_NO_TRACE_CONTEXT"

Attributes = Mapping[str, AttributeValue]


def add_event(name: str, attributes: Attributes) -> None:
    """An event on the current span, when it is recorded."""
    if is_carried():
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, attributes)


class Tracing:
    """One process's tracing: a tracer when spans are exported, else propagation only."""

    def __init__(self, provider: TracerProvider | None = None, *, propagating: bool = True) -> None:
        self._provider = provider
        self._propagating = propagating
        self._tracer = (
            provider.get_tracer("wawp_gateway", __version__) if provider is not None else None
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, service: str) -> Tracing:
        """Spans exported over OTLP/HTTP when ``environ`` names an endpoint; else none.

        ``OTEL_SERVICE_NAME`` (default ``service``) and ``OTEL_TRACES_SAMPLER`` (with
        ``OTEL_TRACES_SAMPLER_ARG``; default ``parentbased_always_on``) keep their meaning."""
        if environ.get(NO_TRACE_CONTEXT_ENV) == "1":
            return cls(propagating=False)
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

    def continuing(
        self,
        headers: Iterable[tuple[str, bytes]],
        name: str,
        kind: SpanKind,
        attributes: Attributes,
        *,
        start_time: int | None = None,
        sample_new: bool = False,
        for_libraries: bool = False,
    ) -> AbstractContextManager[Span]:
        """Make a span, child of the trace context in Kafka ``headers`` (a new trace when they
        carry none), the current one in the block; ``start_time`` in nanoseconds since the
        epoch (default: now).

        Not recording, the trace context is carried as it came: a new trace is flagged sampled
        only with ``sample_new`` (a caller asking the services downstream to record it), and it
        is OpenTelemetry's current span too only with ``for_libraries`` (for code that reads it,
        such as ``opentelemetry.propagate.inject``)."""
        if not self._propagating:
            return nullcontext(trace.INVALID_SPAN)
        if self._tracer is None:
            carrier = Carrier.from_headers(headers, sample_new=sample_new)
            return Carrying(carrier, for_libraries=for_libraries)
        parent = span_context_of(headers)
        parent_context = (
            trace.set_span_in_context(NonRecordingSpan(parent))
            if parent is not None
            else otel_context.Context()
        )
        span = self._tracer.start_span(
            name, parent_context, kind, attributes, start_time=start_time
        )
        return _current_for(span)

    @contextmanager
    def span(self, name: str, kind: SpanKind, attributes: Attributes) -> Iterator[Span | None]:
        """A child of the current span, made current; None (and nothing made) when not
        recording."""
        if self._tracer is None:
            yield None
            return
        with _current_for(self._tracer.start_span(name, kind=kind, attributes=attributes)) as span:
            yield span


@contextmanager
def _current_for(span: Span) -> Iterator[Span]:
    """``span`` current inside the block and ended after it; a failure sets only its
    ``error.type`` (an exception's text may quote what attributes must not hold)."""
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield span
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
