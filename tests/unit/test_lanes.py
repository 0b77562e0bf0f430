"""LaneBook: order inside a lane, exact buffer counts, partition drops and hysteresis."""

from __future__ import annotations

from collections import Counter, deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wawp_gateway.worker.lanes import LaneBook, LaneKey, Limits

BIG = Limits(max_buffered_per_partition=10_000, max_buffered_per_instance=10_000)

partitions = st.integers(0, 2)
instances = st.sampled_from(["i1", "i2", "i3", None])
chats = st.sampled_from(["c1", "c2", None])
# ("add", partition, instance, chat) | ("finish", which running lane) | ("drop", partition)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), partitions, instances, chats),
        st.tuples(st.just("finish"), st.integers(0, 50)),
        st.tuples(st.just("drop"), partitions),
    ),
    max_size=120,
)


@given(operations)
def test_lanes_keep_order_and_exact_counts_under_any_interleaving(ops: list[tuple]) -> None:
    """Each lane hands out its items in arrival order; counts per partition and instance
    match what is queued; ``add`` says True exactly when the lane was idle; an instance is full
    exactly when it holds its cap."""
    book: LaneBook[int, int] = LaneBook(
        Limits(max_buffered_per_partition=10_000, max_buffered_per_instance=3)
    )
    model: dict[LaneKey, deque[int]] = {}
    handed_out: dict[LaneKey, list[int]] = {}
    added: dict[LaneKey, list[int]] = {}
    serial = 0
    for op in ops:
        if op[0] == "add":
            _, partition, instance, chat = op
            key = book.key(partition, instance, chat)
            idle = key not in model
            assert book.add(partition, instance, chat, serial) is idle
            model.setdefault(key, deque()).append(serial)
            added.setdefault(key, []).append(serial)
            if idle:
                handed_out.setdefault(key, []).append(serial)  # the caller starts it
            serial += 1
        elif op[0] == "finish" and model:
            key = sorted(model, key=repr)[op[1] % len(model)]
            assert book.head(key) == model[key][0]
            model[key].popleft()
            following = book.finish(key)
            if model[key]:
                assert following == model[key][0]
                handed_out[key].append(following)
            else:
                assert following is None
                del model[key]
                assert book.head(key) is None
        elif op[0] == "drop":
            partition = op[1]
            dropped = dict(book.drop_partition(partition))
            expected = {k: list(q) for k, q in model.items() if k[0] == partition}
            assert dropped == expected
            for key in expected:
                del model[key]
                added[key] = [s for s in added[key] if s in handed_out[key]]
        # Counts are exact after every step.
        per_partition = Counter(k[0] for k, q in model.items() for _ in q)
        per_instance = Counter(k[1] for k, q in model.items() for _ in q)
        for p in range(3):
            assert book.buffered(p) == per_partition[p]
        for i in ["i1", "i2", "i3", None]:
            assert book.buffered_for(i) == per_instance[i]
        for group in ({"i1"}, {"i2", "i3"}, {"i1", "i2", "i3"}):
            assert book.any_instance_full(group) == any(per_instance[i] >= 3 for i in group)
        assert book.total() == sum(per_partition.values())
        assert book.lanes() == len(model)
    # Order: what a lane handed out is a prefix of what it was given, in the same order.
    for key, items in handed_out.items():
        assert items == added[key][: len(items)]


def test_a_lane_runs_its_items_one_at_a_time_in_order() -> None:
    """Only the first add starts a lane; ``finish`` hands out the next, then closes it."""
    book: LaneBook[str, int] = LaneBook(BIG)
    assert book.add(0, "i1", "c1", "a") is True
    assert book.add(0, "i1", "c1", "b") is False
    assert book.add(0, "i1", "c2", "x") is True  # another chat: another lane
    key = book.key(0, "i1", "c1")
    assert book.finish(key) == "b"
    assert book.finish(key) is None
    assert book.add(0, "i1", "c1", "c") is True  # idle again


def test_drop_partition_removes_only_that_partitions_lanes() -> None:
    """Dropping partition 0 returns its queues and leaves partition 1's lanes and counts."""
    book: LaneBook[str, int] = LaneBook(BIG)
    book.add(0, "i1", "c1", "a")
    book.add(0, "i1", "c1", "b")
    book.add(0, "i2", None, "c")
    book.add(1, "i1", "c1", "d")
    dropped = book.drop_partition(0)
    assert sorted(dropped) == [((0, "i1", "c1"), ["a", "b"]), ((0, "i2", None), ["c"])]
    assert (book.buffered(0), book.buffered(1)) == (0, 1)
    assert (book.buffered_for("i1"), book.buffered_for("i2")) == (1, 0)
    assert book.lanes() == 1
    assert book.head(book.key(1, "i1", "c1")) == "d"


@pytest.mark.parametrize(("limit", "resume_below"), [(1, 1), (2, 1), (3, 1), (10, 5), (11, 5)])
def test_a_full_partition_resumes_once_half_its_buffer_drained(
    limit: int, resume_below: int
) -> None:
    """Full at ``limit``; may resume only below ``max(1, limit // 2)``; never both at once."""
    book: LaneBook[int, int] = LaneBook(Limits(limit, 10_000))
    assert book.limits.resume_below == resume_below
    for n in range(limit):
        assert not book.is_full(0)
        book.add(0, "i1", str(n), n)
    assert book.is_full(0)
    assert not book.may_resume(0)
    for n in range(limit):
        book.finish(book.key(0, "i1", str(n)))
        left = limit - n - 1
        assert book.may_resume(0) == (left < resume_below)
        assert not (book.is_full(0) and book.may_resume(0))


def test_an_instance_is_full_at_its_own_cap_across_partitions() -> None:
    """The per-instance cap counts the instance's items in every partition."""
    book: LaneBook[int, int] = LaneBook(Limits(100, 3))
    book.add(0, "i1", "a", 1)
    book.add(1, "i1", "b", 2)
    assert not book.instance_is_full("i1")
    book.add(2, "i1", None, 3)
    assert book.instance_is_full("i1")
    assert not book.instance_is_full("i2")
    book.drop_partition(1)
    assert not book.instance_is_full("i1")
