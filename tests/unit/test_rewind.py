"""first_offset_since over an in-memory partition: the linear answer, in about log2(n) reads."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from wawp_gateway.core.rewind import first_offset_since


class Partition:
    """Records at ``offsets`` (gaps allowed) with ``stamps``; counts reads."""

    def __init__(self, offsets: list[int], stamps: list[int]) -> None:
        self.records = list(zip(offsets, stamps, strict=True))
        self.reads = 0

    async def read_at(self, offset: int) -> tuple[int, int] | None:
        self.reads += 1
        return next(((o, s) for o, s in self.records if o >= offset), None)

    def linear(self, low: int, high: int, since: int) -> int:
        return next((o for o, s in self.records if low <= o < high and s >= since), high)


@st.composite
def partitions(draw: st.DrawFn) -> tuple[Partition, int]:
    gaps = draw(st.lists(st.integers(1, 3), max_size=200))
    steps = draw(st.lists(st.integers(0, 5), min_size=len(gaps), max_size=len(gaps)))
    offsets = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    stamps = [1000 + sum(steps[: i + 1]) for i in range(len(steps))]
    since = draw(st.integers(990, 2100))
    return Partition(offsets, stamps), since


@given(partitions())
async def test_the_answer_is_the_first_record_new_enough(case: tuple[Partition, int]) -> None:
    partition, since = case
    high = (partition.records[-1][0] + 1) if partition.records else 0
    found = await first_offset_since(partition.read_at, 0, high, since)
    assert found == partition.linear(0, high, since)
    assert partition.reads <= 2 * math.ceil(math.log2(high + 1)) + 2


async def test_everything_older_gives_the_high_bound() -> None:
    partition = Partition([0, 1, 2], [10, 20, 30])
    assert await first_offset_since(partition.read_at, 0, 3, 31) == 3


async def test_records_at_or_past_the_high_bound_do_not_count() -> None:
    """The replay stops at the committed offset: a newer record after it is not an answer."""
    partition = Partition([0, 1, 2, 3], [10, 20, 30, 40])
    assert await first_offset_since(partition.read_at, 0, 3, 35) == 3
    assert await first_offset_since(partition.read_at, 0, 3, 15) == 1


async def test_an_empty_range_reads_nothing() -> None:
    partition = Partition([0], [10])
    assert await first_offset_since(partition.read_at, 5, 5, 0) == 5
    assert partition.reads == 0
