"""Kafka's default partitioner (murmur2 of the key), so the worker can tell where a key belongs.

Producers key commands by ``instance_id`` with the default partitioner; a command found in another
partition is forwarded there once (docs/contract.md "Topics"). Pure.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

__all__ = ["cached_default_partitioner", "murmur2", "partition_for"]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 as Kafka's Java client computes it (``Utils.murmur2``), as unsigned 32 bits."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[whole:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@functools.lru_cache(maxsize=65_536)
def _index(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` among ``partitions``.

    Cached: keys are instance ids, a bounded set, and murmur2 in Python costs microseconds."""
    return _index(key.encode() if isinstance(key, str) else key, partitions)


def cached_default_partitioner(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """aiokafka's ``DefaultPartitioner`` with the murmur2 result cached per key."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_index(key, len(all_partitions))]
