"""Follow a keyed, last-value-wins topic (``wawp.instances``, ``wawp.sessions``) into memory.

``CompactedTopicFollower`` reads every partition of its topic from the beginning, hands each
record to ``apply(key, value)`` in offset order (``value`` None is a tombstone), and keeps
following. It is a plain consumer outside any group: it assigns, seeks and never commits.

Read-your-writes (``catch_up``) needs the partition's end *as of the call*. ``end_offsets()``
cannot give it: on the embedded broker the listed end is wrong after multi-record batches
(docs/embedded-broker.md). The high watermark of a fetch response can, but only of a fetch sent
after the call. So a catch-up round re-assigns the partitions: aiokafka drops every response of
the old assignment, and the new one knows no high watermark until a fetch sent after the round
began has answered. Once every partition has one, the round ends when the records below it are
applied. That holds on the embedded broker and on Apache Kafka alike (there, the high watermark
is past every record acknowledged with ``acks=all``). Callers arriving while a round runs wait
for the next one; all callers of one round share its fetch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeAlias

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from wawp_gateway.core.errors import ConfigError, GatewayError
from wawp_gateway.core.kafka import build_follower, start_client
from wawp_gateway.core.sections import KafkaSettings

__all__ = ["CompactedTopicFollower", "FollowerStopped", "TopicMissing"]

log = structlog.get_logger(__name__)

# How long one idle poll of the background task lasts: the bound on noticing a round's first
# fetch answer when that answer carries no record.
_POLL_MS = 50


_Fetched: TypeAlias = "dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]"


class TopicMissing(ConfigError):
    """The followed topic does not exist (``topics create`` makes it)."""


class FollowerStopped(GatewayError):
    """The follower stopped (or its fetch loop failed) before a catch-up finished."""


class _Round:
    """One catch-up: the partitions' ends seen by fetches sent after it began."""

    def __init__(self) -> None:
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.started = False
        self.ends: dict[TopicPartition, int] = {}


class CompactedTopicFollower:
    """Reads ``topic`` to its end on ``start`` and follows it; ``apply`` sees every record."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        apply: Callable[[str, bytes | None], None],
        *,
        client_id: str,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._apply = apply
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        # Next offset to apply per partition: records below it (re-fetched after a seek) are
        # skipped, so every record is applied once and in order.
        self._next: dict[TopicPartition, int] = {}
        self._running: _Round | None = None
        self._waiting: _Round | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._failure_callbacks: list[Callable[[BaseException], None]] = []

    @property
    def topic(self) -> str:
        return self._topic

    def on_failure(self, callback: Callable[[BaseException], None]) -> None:
        """Call ``callback(error)`` if following ends with an error (not on ``stop``): what
        is read from the topic no longer changes, so a process may rather stop."""
        self._failure_callbacks.append(callback)

    async def start(self) -> None:
        """Assign every partition, read from the beginning up to the current end, then follow
        in a background task. Raises ``TopicMissing`` when the topic does not exist."""
        consumer = build_follower(self._kafka, client_id=self._client_id)
        await start_client(consumer, self._kafka)
        try:
            await consumer.topics()  # loads the cluster metadata
            partitions = consumer.partitions_for_topic(self._topic)
            if not partitions:
                raise TopicMissing(
                    "GATEWAY_TOPICS", f"topic {self._topic!r} does not exist: run `topics create`"
                )
            self._partitions = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            self._next = dict.fromkeys(self._partitions, 0)
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        # The fresh assignment is itself a round: no high watermark is known before a fetch.
        first = _Round()
        first.started = True
        self._running = first
        self._task = asyncio.create_task(self._follow(), name=f"follow-{self._topic}")
        self._task.add_done_callback(self._on_stopped)
        try:
            await first.done
        except BaseException:
            await self.stop()
            raise
        log.debug("follower.caught_up", topic=self._topic, offsets=self._offsets())

    async def catch_up(self) -> None:
        """Return once every record acknowledged before this call has been applied."""
        if self._failure is not None or self._task is None or self._task.done():
            raise FollowerStopped(f"the follower of {self._topic!r} is not running")
        if self._waiting is None:
            self._waiting = _Round()
            self._wake.set()
        await asyncio.shield(self._waiting.done)

    async def stop(self) -> None:
        """Stop following (idempotent); pending catch-ups raise ``FollowerStopped``."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})  # neither its failure nor its cancellation is ours
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        self._fail(FollowerStopped(f"the follower of {self._topic!r} stopped"))

    def _offsets(self) -> dict[int, int]:
        return {tp.partition: offset for tp, offset in self._next.items()}

    async def _follow(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while True:
            if self._running is None and self._waiting is not None:
                self._begin(consumer, self._waiting)
            fetched = await self._poll(consumer)
            for tp, records in fetched.items():
                self._apply_all(tp, records)
            await self._settle(consumer)

    async def _poll(self, consumer: AIOKafkaConsumer) -> _Fetched:
        # A catch-up request cuts an idle poll short so its round begins at once.
        self._wake.clear()
        if self._waiting is not None and self._running is None:
            return {}
        fetch: asyncio.Task[_Fetched] = asyncio.ensure_future(consumer.getmany(timeout_ms=_POLL_MS))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({fetch, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            if not fetch.done():
                # getmany takes records from the buffer only after its wait, where the
                # cancellation lands: cancelling it loses none.
                fetch.cancel()
                await asyncio.wait({fetch})
        return {} if fetch.cancelled() else fetch.result()

    def _begin(self, consumer: AIOKafkaConsumer, round_: _Round) -> None:
        self._waiting, self._running = None, round_
        round_.started = True
        # A new assignment: responses to fetches sent before now are dropped, and highwater()
        # is None until a fetch sent from now on has answered.
        consumer.assign(self._partitions)
        for tp in self._partitions:
            # One record back: the first answer then comes at once, with that record (skipped
            # as already applied), rather than after a long poll at the end of the partition.
            consumer.seek(tp, max(self._next[tp] - 1, 0))

    def _apply_all(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            if record.offset < self._next[tp]:
                continue
            self._next[tp] = record.offset + 1
            if record.key is None:
                log.warning(
                    "follower.record_skipped",
                    topic=self._topic,
                    partition=tp.partition,
                    offset=record.offset,
                    problem="no key",
                )
                continue
            self._apply(record.key.decode("utf-8", "replace"), record.value)

    async def _settle(self, consumer: AIOKafkaConsumer) -> None:
        round_ = self._running
        if round_ is None:
            return
        for tp in self._partitions:
            if tp not in round_.ends:
                highwater = consumer.highwater(tp)
                if highwater is None:
                    return
                round_.ends[tp] = highwater
            if self._next[tp] < round_.ends[tp]:
                # The position passes offsets that hold no record (compacted away, or a
                # transaction marker): what lies below it has been applied.
                position = await consumer.position(tp)
                if position < round_.ends[tp]:
                    return
                self._next[tp] = max(self._next[tp], position)
        self._running = None
        if not round_.done.done():
            round_.done.set_result(None)

    def _on_stopped(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("follower.failed", topic=self._topic, error_type=type(error).__name__)
            self._fail(error)
            for callback in self._failure_callbacks:
                callback(error)

    def _fail(self, error: BaseException) -> None:
        self._failure = self._failure or error
        for round_ in (self._running, self._waiting):
            if round_ is not None and not round_.done.done():
                round_.done.set_exception(
                    error
                    if isinstance(error, GatewayError | KafkaError)
                    else FollowerStopped(
                        f"the follower of {self._topic!r} failed: {type(error).__name__}"
                    )
                )
                round_.done.exception()  # retrieved: an unawaited round logs nothing
        self._running = self._waiting = None
