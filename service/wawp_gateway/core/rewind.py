"""Where a partition's records of the last ``window`` begin, found by reading, not by asking.

The tracker's join lives in memory; after a restart it reads the recent past of its partitions
again (without publishing) so that acks of messages sent before the restart still find their
send, and levels reached before it are not reported twice. The SDK's reader starts from a time
the same way. ``offsets_for_times`` would answer
"which offset has this time" in one request, but the embedded broker does not implement it, so
the offset is found by a binary search over record timestamps: one small fetch per probe, about
log2(records) probes. Timestamps are producer create times: close to ordered, not exactly; a
record slightly out of order near the boundary moves the start by a few records, which only
makes the replay a little longer or shorter at its old end.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["ReadAt", "first_offset_since", "partition_reader"]

ReadAt = Callable[[int], Awaitable[tuple[int, int] | None]]
"""``read_at(offset)``: (offset, timestamp ms) of the first record at or after ``offset``, or
None when there is none."""

_PROBE_TIMEOUT_MS = 2000


async def first_offset_since(read_at: ReadAt, low: int, high: int, since_ms: int) -> int:
    """The first offset in ``[low, high)`` whose record is at or after ``since_ms``; ``high`` when
    every record there is older (or there are none)."""
    best = high
    while low < high:
        middle = (low + high) // 2
        found = await read_at(middle)
        if found is None or found[0] >= best:
            high = middle  # nothing (new enough) between middle and the best known
            continue
        offset, stamp = found
        if stamp >= since_ms:
            best = offset
            high = middle
        else:
            low = offset + 1
    return best


def partition_reader(reader: AIOKafkaConsumer, tp: TopicPartition) -> ReadAt:
    """``ReadAt`` over a group-less consumer that has ``tp`` assigned (one fetch per call)."""

    async def read_at(offset: int) -> tuple[int, int] | None:
        reader.seek(tp, offset)
        deadline = time.monotonic() + _PROBE_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            batch = await reader.getmany(tp, timeout_ms=_PROBE_TIMEOUT_MS, max_records=1)
            records = batch.get(tp)
            if records:
                return records[0].offset, records[0].timestamp
            highwater = reader.highwater(tp)
            if highwater is not None and offset >= highwater:
                return None
        return None

    return read_at
