"""Trace context end to end on a real broker: a command's ``traceparent`` reaches the Wawp call,
the result, the dead letter, the state records and the SERVER / DEVICE / READ delivery records;
with an OTLP/HTTP endpoint (a real HTTP server decoding the protobuf payloads), one trace holds
the consumer, Wawp-call and publish spans with their parent links, and no token or phone number.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from examples import CHAT
from wawp_gateway.core.tracing import Tracing
from wawp_gateway.sandbox import FaultRule

from .harness import TEST_TOKEN, DeliveryStack, command, running_delivery_stack

INSTANCE = "TRACEINST001"
PHONE = CHAT.split("@")[0]


def _traceparent() -> tuple[str, str, str]:
    trace_id, span_id = f"{random.getrandbits(128):032x}", f"{random.getrandbits(64):016x}"
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def _trace_id(headers: Any) -> str | None:
    for name, value in headers or ():
        if name == "traceparent":
            text = value.decode() if isinstance(value, bytes) else value
            return str(text.split("-")[1])
    return None


def _records_of(stack: DeliveryStack, topic: str, command_id: str) -> list[Any]:
    found = []
    for record in stack.gateway.outputs.seen.by_topic[topic]:
        try:
            value = json.loads(record.value)
        except (TypeError, ValueError):
            continue
        if isinstance(value, dict) and command_id in (value.get("command_id"), value.get("id")):
            found.append(record)
    return found


async def _read_acks(stack: DeliveryStack, command_id: str) -> list[Any]:
    delivery = stack.settings.topics.delivery

    def read(_: Any) -> list[Any] | None:
        found = _records_of(stack, delivery, command_id)
        names = [json.loads(r.value)["ack_name"] for r in found]
        return found if "READ" in names else None

    return list(await stack.gateway.outputs.wait_for(read, deadline_s=15))


async def test_a_commands_trace_id_reaches_every_record_and_the_wawp_call(
    kafka_bootstrap: str,
) -> None:
    """Propagation without an exporter: the same trace id on the Wawp request, the result, the
    state records and SERVER / DEVICE / READ; a failing command's dead letter carries its own."""
    async with running_delivery_stack(
        kafka_bootstrap, f"trc-{uuid.uuid4().hex[:8]}", INSTANCE
    ) as stack:
        gw, topics = stack.gateway, stack.settings.topics
        await gw.outputs.follow([topics.delivery, topics.state])
        parent, trace_id, _ = _traceparent()
        cmd = command(INSTANCE, "sendText", {"chatId": CHAT, "message": "traced"})

        await gw.publish(cmd, topic=topics.send, headers=[("traceparent", parent.encode())])
        result = await gw.outputs.result(cmd["id"])
        acks = await _read_acks(stack, cmd["id"])

        assert result["status"] == "succeeded", result
        (call,) = gw.sandbox.requests(instance_id=INSTANCE, action="sendText")
        assert call.headers["traceparent"].split("-")[1] == trace_id
        (result_record,) = _records_of(stack, topics.results, cmd["id"])
        assert _trace_id(result_record.headers) == trace_id
        states = _records_of(stack, topics.state, cmd["id"])
        assert {json.loads(r.value)["status"] for r in states} >= {"in_progress", "succeeded"}
        assert {_trace_id(r.headers) for r in states} == {trace_id}
        assert [json.loads(r.value)["ack_name"] for r in acks] == ["SERVER", "DEVICE", "READ"]
        assert {_trace_id(r.headers) for r in acks} == {trace_id}

        # A command Wawp refuses: its result and dead letter carry its trace.
        failing_parent, failing_trace, _ = _traceparent()
        gw.sandbox.add_fault(
            FaultRule(instance_id=INSTANCE, kind="wawp_error", status=400, code="bad", times=1)
        )
        failing = command(INSTANCE, "sendText", {"chatId": CHAT, "message": "refused"})
        await gw.publish(
            failing, topic=topics.send, headers=[("traceparent", failing_parent.encode())]
        )
        assert (await gw.outputs.result(failing["id"]))["status"] == "failed"
        letter = await gw.outputs.dlq_for(failing["id"])
        assert _trace_id(letter.headers) == failing_trace
        (failed_record,) = _records_of(stack, topics.results, failing["id"])
        assert _trace_id(failed_record.headers) == failing_trace

        # No trace context on the command: the gateway starts one, the same everywhere.
        plain = command(INSTANCE, "sendText", {"chatId": CHAT, "message": "untraced"})
        await gw.publish(plain, topic=topics.send)
        await gw.outputs.result(plain["id"])
        (plain_result,) = _records_of(stack, topics.results, plain["id"])
        started = _trace_id(plain_result.headers)
        assert started is not None
        assert started not in (trace_id, failing_trace)
        calls = gw.sandbox.requests(instance_id=INSTANCE, action="sendText")
        assert calls[-1].headers["traceparent"].split("-")[1] == started


class _OtlpReceiver:
    """An OTLP/HTTP trace receiver: decodes each ExportTraceServiceRequest into its spans."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Span]] = []  # (service.name, span)
        self.changed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((service, span) for span in scope_spans.spans)
        self.changed.set()
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )


@asynccontextmanager
async def _receiving() -> AsyncIterator[tuple[_OtlpReceiver, str]]:
    receiver = _OtlpReceiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _attributes(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        out[attribute.key] = getattr(value, value.WhichOneof("value") or "string_value")
    return out


async def test_spans_of_a_command_form_one_trace_over_otlp(kafka_bootstrap: str) -> None:
    """Consumer -> Wawp call and result publish, and the acks, in the producer's trace."""
    async with _receiving() as (receiver, endpoint):
        tracing = Tracing.from_environ(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "gateway-under-test"},
            service="wawp-gateway-worker",
        )
        try:
            async with running_delivery_stack(
                kafka_bootstrap, f"otl-{uuid.uuid4().hex[:8]}", INSTANCE, tracing=tracing
            ) as stack:
                gw, topics = stack.gateway, stack.settings.topics
                await gw.outputs.follow([topics.delivery])
                parent, trace_id, producer_span = _traceparent()
                cmd = command(INSTANCE, "sendText", {"chatId": CHAT, "message": "secret text"})
                await gw.publish(cmd, topic=topics.send, headers=[("traceparent", parent.encode())])
                assert (await gw.outputs.result(cmd["id"]))["status"] == "succeeded"
                await _read_acks(stack, cmd["id"])
                assert await asyncio.to_thread(tracing.force_flush)
                (call,) = gw.sandbox.requests(instance_id=INSTANCE, action="sendText")
        finally:
            await asyncio.to_thread(tracing.shutdown)

        spans = [s for _, s in receiver.spans if s.trace_id.hex() == trace_id]
        assert {service for service, _ in receiver.spans} == {"gateway-under-test"}
        by_kind: dict[int, list[Span]] = {}
        for span in spans:
            by_kind.setdefault(span.kind, []).append(span)
        (consumer,) = by_kind[Span.SPAN_KIND_CONSUMER]
        (client,) = by_kind[Span.SPAN_KIND_CLIENT]
        producers = by_kind[Span.SPAN_KIND_PRODUCER]
        # Parent links: the producer's span -> the consumer span -> the call and the publishes.
        assert consumer.parent_span_id.hex() == producer_span
        assert client.parent_span_id == consumer.span_id
        results = [s for s in producers if s.name == f"send {topics.results}"]
        assert len(results) == 1
        assert results[0].parent_span_id == consumer.span_id
        acks = sorted(s.name for s in producers if s.name.startswith("delivery "))
        assert acks == ["delivery DEVICE", "delivery READ", "delivery SERVER"]
        # Wawp saw the client span as its caller.
        assert call.headers["traceparent"].split("-")[2] == client.span_id.hex()

        consumed = _attributes(consumer)
        assert consumed["messaging.system"] == "kafka"
        assert consumed["messaging.destination.name"] == topics.send
        assert consumed["messaging.message.id"] == cmd["id"]
        assert (consumed["wawp.action"], consumed["wawp.outcome"]) == ("sendText", "succeeded")
        assert consumed["wawp.attempts"] == 1
        # Where the time went: the state write (and any wait for a rate token) as events.
        assert "wawp.state written" in {e.name for e in consumer.events}
        called = _attributes(client)
        assert called["http.request.method"] == "POST"
        assert called["http.response.status_code"] == call.status
        assert called["url.template"].endswith("/send")
        assert called["server.address"] == "127.0.0.1"

        everything = repr([(s.name, _attributes(s), list(s.events)) for _, s in receiver.spans])
        for forbidden in (TEST_TOKEN, PHONE, "secret text"):
            assert forbidden not in everything
