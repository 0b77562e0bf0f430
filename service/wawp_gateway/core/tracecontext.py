"""W3C trace context (docs/contract.md "Trace context"): read from headers, carried, written out.

The context of the work in hand is OpenTelemetry's current span when spans are recorded
(``tracing``); when they are not, it is a ``Carrier`` set for the command's work: the headers it
came with (or a new trace's), formatted once, since every record and request of the command
carries them. ``kafka_headers()``, ``http_headers()`` and ``exemplar()`` read whichever is
current; outside any trace they give nothing.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from contextvars import ContextVar, Token

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, TraceFlags, TraceState

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "TRACE_HEADERS",
    "Carrier",
    "Carrying",
    "exemplar",
    "http_headers",
    "is_carried",
    "kafka_headers",
    "parse_traceparent",
    "span_context_of",
    "trace_headers_of",
    "with_trace_headers",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE})
# version 00 exactly; a later version may append fields, which a version-00 reader drops.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
# A tracestate holds at most 32 list members of at most 256 characters each, in printable
# ASCII (and the list's spaces and tabs): anything else, a line break above all, would let a
# producer write header lines of its own into the Wawp call.
_MAX_TRACESTATE = 32 * 257
_TRACESTATE_TEXT = re.compile(r"[\x20-\x7e\t]*")


def _valid_traceparent(value: str) -> str | None:
    """``value`` as a version-00 traceparent, or None when it is not a usable one."""
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE:
        return None
    if span_id == _ZERO_SPAN:
        return None
    return value if version == "00" else f"00-{trace_id}-{span_id}-{flags}"


def parse_traceparent(value: str, tracestate: str | None = None) -> SpanContext | None:
    """A remote span context from W3C ``traceparent`` (and ``tracestate``); None when invalid."""
    valid = _valid_traceparent(value)
    if valid is None:
        return None
    state = TraceState.from_header([tracestate]) if tracestate else None
    return SpanContext(
        int(valid[3:35], 16),
        int(valid[36:52], 16),
        is_remote=True,
        trace_flags=TraceFlags(int(valid[53:55], 16)),
        trace_state=state,
    )


def trace_headers_of(headers: Iterable[tuple[str, bytes]]) -> tuple[str | None, str | None]:
    """The ``traceparent`` and ``tracestate`` among Kafka ``headers`` (None when absent)."""
    parent: str | None = None
    state: str | None = None
    for name, value in headers:
        if name in TRACE_HEADERS:
            try:
                text = value.decode("ascii")
            except (UnicodeDecodeError, AttributeError):
                continue
            if name == TRACEPARENT:
                parent = text
            else:
                state = text
    return parent, state


def span_context_of(headers: Iterable[tuple[str, bytes]]) -> SpanContext | None:
    """The trace context carried by Kafka ``headers``, if any (a bad one counts as none)."""
    parent, state = trace_headers_of(headers)
    return None if parent is None else parse_traceparent(parent, state)


class Carrier:
    """A trace context that is passed on, not recorded: its headers formatted once."""

    __slots__ = ("_exemplar", "http", "kafka", "traceparent")

    def __init__(self, traceparent: str, tracestate: str | None = None) -> None:
        """``traceparent`` must be a valid version-00 value (``from_headers``, ``new``)."""
        self.traceparent = traceparent
        if (
            tracestate
            and len(tracestate) <= _MAX_TRACESTATE
            and _TRACESTATE_TEXT.fullmatch(tracestate)
        ):
            self.http: tuple[tuple[str, str], ...] = (
                (TRACEPARENT, traceparent),
                (TRACESTATE, tracestate),
            )
        else:
            self.http = ((TRACEPARENT, traceparent),)
        self.kafka = [(name, value.encode()) for name, value in self.http]
        self._exemplar: dict[str, str] | bool | None = False  # False: not computed yet

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]], *, sample_new: bool) -> Carrier:
        """The context of Kafka ``headers``; a new trace when they carry none (or a bad one)."""
        parent, state = trace_headers_of(headers)
        valid = None if parent is None else _valid_traceparent(parent)
        return cls(valid, state) if valid is not None else cls.new(sampled=sample_new)

    @classmethod
    def new(cls, *, sampled: bool) -> Carrier:
        """A new trace. Sampled only for a caller asking the services downstream to record."""
        ids = random.randbytes(24).hex()  # one call for both ids: a new trace per command
        trace_id, span_id = ids[:32], ids[32:]
        if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:  # all zero is invalid (W3C)
            return cls.new(sampled=sampled)
        return cls(f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}")

    @classmethod
    def of_span(cls, span_context: SpanContext) -> Carrier:
        state = span_context.trace_state.to_header() if span_context.trace_state else None
        return cls(
            f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
            f"{span_context.trace_flags:02x}",
            state,
        )

    @property
    def exemplar(self) -> dict[str, str] | None:
        """Exemplar labels of this trace when it is sampled, else None."""
        if self._exemplar is False:
            value = self.traceparent
            sampled = int(value[53:55], 16) & TraceFlags.SAMPLED
            self._exemplar = {"trace_id": value[3:35], "span_id": value[36:52]} if sampled else None
        return self._exemplar  # type: ignore[return-value]

    def span_context(self) -> SpanContext:
        span_context = parse_traceparent(
            self.traceparent, self.http[1][1] if len(self.http) > 1 else None
        )
        assert span_context is not None  # valid by construction
        return span_context


# Set while a command's work runs and no span is recorded; else OpenTelemetry's current span.
_carried: ContextVar[Carrier | None] = ContextVar("wawp_gateway_trace", default=None)


class _CarriedSpan(NonRecordingSpan):
    """A carried context as a span; its span context parsed only when asked for."""

    def __init__(self, carrier: Carrier) -> None:
        super().__init__(trace.INVALID_SPAN_CONTEXT)
        self._carrier = carrier

    def get_span_context(self) -> SpanContext:
        return self._carrier.span_context()


class Carrying:
    """Makes ``carrier`` the current trace context in a ``with`` block; with ``for_libraries``,
    OpenTelemetry's current span too (for code that reads it, such as ``propagate.inject``)."""

    __slots__ = ("_carrier", "_for_libraries", "_otel_token", "_token")

    def __init__(self, carrier: Carrier, *, for_libraries: bool = False) -> None:
        self._carrier = carrier
        self._for_libraries = for_libraries
        self._otel_token: Token[otel_context.Context] | None = None

    def __enter__(self) -> Span:
        span = _CarriedSpan(self._carrier)
        self._token = _carried.set(self._carrier)
        if self._for_libraries:
            self._otel_token = otel_context.attach(trace.set_span_in_context(span))
        return span

    def __exit__(self, *_exc: object) -> None:
        _carried.reset(self._token)
        if self._otel_token is not None:
            otel_context.detach(self._otel_token)


def is_carried() -> bool:
    """Whether the current context is carried only (no span is recorded for it)."""
    return _carried.get() is not None


def _current() -> Carrier | None:
    carried = _carried.get()
    if carried is not None:
        return carried
    span_context = trace.get_current_span().get_span_context()
    return Carrier.of_span(span_context) if span_context.is_valid else None


def kafka_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka headers ([] outside any trace). Not to be changed:
    every record of the command may share it."""
    carried = _current()
    return [] if carried is None else carried.kafka


def http_headers() -> tuple[tuple[str, str], ...]:
    """The current trace context as HTTP header fields (() outside any trace)."""
    carried = _current()
    return () if carried is None else carried.http


def with_trace_headers(headers: Iterable[tuple[str, bytes]] | None) -> list[tuple[str, bytes]]:
    """``headers`` with their trace context replaced by the current one."""
    own = kafka_headers()
    if not headers:
        return own
    return [h for h in headers if h[0] not in TRACE_HEADERS] + own


def exemplar() -> dict[str, str] | None:
    """Labels of an exemplar for the current trace, when it is sampled (else None)."""
    carried = _current()
    return None if carried is None else carried.exemplar
