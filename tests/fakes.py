"""Fakes for the unit tests: hand-written stand-ins for the ports our code depends on.

Nothing here patches our own modules; each fake implements a Protocol (``Clock``, ``WawpPort``,
``HttpTransport``) or the part of aiokafka's producer a writer uses (``FakeProducer``) and
records what it was asked, so a test can state what happened.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition

from wawp_gateway.wawp.catalog import ActionSpec
from wawp_gateway.wawp.responses import WawpReply
from wawp_gateway.wawp.transports.base import HttpRequest, HttpResponse
from wawp_gateway.worker.retry import RetryPolicy

__all__ = ["FakeProducer", "FakeTransport", "FakeWawp", "ManualClock", "WawpCall"]

EPOCH = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class ManualClock:
    """A Clock whose time moves only when told to: ``sleep`` advances it at once and records."""

    def __init__(self, start: datetime = EPOCH, monotonic: float = 1_000.0) -> None:
        self._now = start
        self._monotonic = monotonic
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


@dataclass(frozen=True, slots=True)
class WawpCall:
    action: str
    params: Mapping[str, Any]
    instance_id: str
    at: datetime


@dataclass
class FakeWawp:
    """A WawpPort answering from a script: each entry is a WawpReply to return or an exception
    to raise, in order. When the script runs out the last entry repeats. Records every call."""

    script: list[WawpReply | BaseException]
    clock: ManualClock | None = None
    calls: list[WawpCall] = field(default_factory=list)

    async def call(
        self, spec: ActionSpec, params: Mapping[str, Any], *, instance_id: str
    ) -> WawpReply:
        at = self.clock.now() if self.clock else EPOCH
        self.calls.append(WawpCall(spec.name, dict(params), instance_id, at))
        index = min(len(self.calls), len(self.script)) - 1
        answer = self.script[index]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def ok_reply(message_id: str | None = "true_447441429009@c.us_3EB0", body: Any = None) -> WawpReply:
    return WawpReply(200, body if body is not None else {"id": message_id}, message_id)


class FakeTransport:
    """An HttpTransport that records requests and answers from a list (the last one repeats)."""

    def __init__(self, responses: Iterable[HttpResponse] = ()) -> None:
        self.requests: list[HttpRequest] = []
        self._responses = list(responses) or [HttpResponse(200, {}, b'{"ok":true}')]
        self.closed = False

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        index = min(len(self.requests), len(self._responses)) - 1
        return self._responses[index]

    async def aclose(self) -> None:
        self.closed = True


# The configuration's default retry caps, as a policy (tests of the pipeline and the policy).
DEFAULT_POLICY = RetryPolicy(
    max_attempts=5,
    max_elapsed_s=300.0,
    backoff_initial_s=0.5,
    backoff_max_s=30.0,
    retry_after_max_s=60.0,
)


def fresh_sandbox(box: Any, instance_id: str, token: str) -> None:
    """A shared in-process sandbox made ready for the next test: empty request log, no
    faults, ``instance_id`` (re)created WORKING."""
    box.clear_requests()
    box.clear_faults()
    box.add_instance(instance_id, token)


class _Batch:
    def __init__(self, limit: int) -> None:
        self.records: list[tuple[bytes | None, bytes | None, Any]] = []
        self._limit = limit
        self.closed = False
        self.drained: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def close(self) -> None:
        self.closed = True

    async def wait_drain(self) -> None:
        await self.drained

    def append(
        self, *, key: bytes | None, value: bytes | None, timestamp: None, headers: Any
    ) -> object:
        if len(self.records) >= self._limit:
            return None
        self.records.append((key, value, list(headers)))
        return object()


class _Accumulator:
    def __init__(self) -> None:
        self._batches: dict[TopicPartition, collections.deque[_Batch]] = collections.defaultdict(
            collections.deque
        )


class FakeProducer:
    """The part of aiokafka's producer ``core.coalesce`` uses: batches queued per partition in
    the accumulator until the sender takes them into a request (``drain``), then acknowledged.

    ``send_batch`` queues the batch and returns an ack future the test settles by hand;
    ``drain()`` is the sender taking every queued batch into a request."""

    def __init__(self, batch_limit: int = 1000) -> None:
        self.batch_limit = batch_limit
        self.sent: list[tuple[str, int, _Batch, asyncio.Future[None]]] = []
        self.sent_event = asyncio.Event()
        self._message_accumulator = _Accumulator()

    def create_batch(self) -> _Batch:
        return _Batch(self.batch_limit)

    async def send_batch(
        self, batch: _Batch, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        assert batch.closed, "an open batch lingers in aiokafka"
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, partition, batch, ack))
        self._message_accumulator._batches[TopicPartition(topic, partition)].append(batch)
        self.sent_event.set()
        return ack

    def drain(self) -> None:
        for queue in self._message_accumulator._batches.values():
            while queue:
                queue.popleft().drained.set_result(None)

    async def next_send(self, count: int) -> None:
        while len(self.sent) < count:
            self.sent_event.clear()
            await asyncio.wait_for(self.sent_event.wait(), 5)
