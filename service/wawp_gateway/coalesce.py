"""Acknowledged writes to one topic, coalesced per partition into ``send_batch`` calls.

While one batch of a partition is on its way, the records written meanwhile wait and go out
together as the next. A record then costs an append to a batch (aiokafka's C builder) instead
of a ``send`` of its own (futures, accumulator, one more produce request), and a batch's size
follows the load with no lingering. One batch per partition at a time keeps a key's records in
the order written. Used for ``wawp.state`` by the worker and for ``wawp.events`` by the
webhook receiver, where every writer waits for its own acknowledgement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

__all__ = ["CoalescingWriter", "Headers"]

Headers = Sequence[tuple[str, bytes]]
_Pending = tuple[bytes | None, bytes | None, Headers, asyncio.Future[None]]


class CoalescingWriter:
    """``write(partition, key, value)`` returns once the broker acknowledged the record."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self.topic = topic
        self._pending: dict[int, list[_Pending]] = {}
        self._busy: set[int] = set()
        self._sending: set[asyncio.Task[None]] = set()

    async def write(
        self, partition: int, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> None:
        await self.submit(partition, key, value, headers)

    def submit(
        self, partition: int, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> asyncio.Future[None]:
        """The record's acknowledgement, as a future. A writer may give up on it (set it
        itself): a record given up before its batch left is not sent; once sent, the answer that
        comes later is dropped."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        pending = self._pending.get(partition)
        if pending is None:
            pending = self._pending[partition] = []
            if partition not in self._busy:
                # At the end of this loop turn: what other writers add meanwhile joins it.
                loop.call_soon(self._flush, partition)
        # aiokafka's C batch builder takes headers as a list only
        pending.append((key, value, headers if isinstance(headers, list) else list(headers), done))
        return done

    def _flush(self, partition: int) -> None:
        records = self._pending.pop(partition, None)
        if not records or partition in self._busy:
            return
        self._busy.add(partition)
        task = asyncio.create_task(self._send(partition, records))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, partition: int, records: list[_Pending]) -> None:
        try:
            await self._deliver(partition, records)
        except asyncio.CancelledError:
            for *_, done in records:
                if not done.done():
                    done.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed on: each writer of the batch gets it
            for *_, done in records:
                if not done.done():
                    done.set_exception(exc)
        else:
            for *_, done in records:
                if not done.done():
                    done.set_result(None)
        finally:
            self._busy.discard(partition)
            if partition in self._pending:
                self._flush(partition)

    async def _deliver(self, partition: int, records: list[_Pending]) -> None:
        producer = self._producer
        acks = []
        batch = producer.create_batch()
        appended = 0
        for key, value, headers, done in records:
            if done.done():  # its writer gave up before it left: it is not sent at all
                continue
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                acks.append(await producer.send_batch(batch, self.topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
            appended += 1
        if appended:
            acks.append(await producer.send_batch(batch, self.topic, partition=partition))
        await asyncio.gather(*acks)
