"""Kafka's default partitioner, reimplemented: it must agree with aiokafka's bit for bit."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from wawp_gateway.core.partitioning import murmur2, partition_for


@given(data=st.binary(max_size=64))
def test_murmur2_equals_aiokafkas(data: bytes) -> None:
    """Same hash as aiokafka (masked to unsigned 32 bits) for any bytes, every tail length."""
    assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF


@given(key=st.text(max_size=40) | st.binary(max_size=40), partitions=st.integers(1, 1_000))
def test_partition_for_matches_the_default_partitioner(key: str | bytes, partitions: int) -> None:
    """partition_for(key, n) is the partition aiokafka's producer picks for that key."""
    raw = key.encode() if isinstance(key, str) else key
    expected = DefaultPartitioner()(raw, list(range(partitions)), list(range(partitions)))
    assert partition_for(key, partitions) == expected


@pytest.mark.parametrize(
    ("key", "signed"),
    [
        # The vectors of Kafka's own UtilsTest.testMurmur2 (signed Java ints).
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_kafkas_test_vectors(key: bytes, signed: int) -> None:
    """Fixed vectors from Kafka's Java client, so both implementations cannot drift together."""
    assert murmur2(key) == signed & 0xFFFFFFFF


def test_instance_ids_spread_over_partitions() -> None:
    """Typical instance ids land in range and not all on one partition."""
    ids = [f"INSTANCE{i:04d}" for i in range(200)]
    chosen = {partition_for(i, 12) for i in ids}
    assert chosen <= set(range(12))
    assert len(chosen) > 6
