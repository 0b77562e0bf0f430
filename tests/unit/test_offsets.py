"""OffsetTracker: the committable position only moves over a prefix of finished records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wawp_gateway.worker.offsets import OffsetTracker


@st.composite
def fetches_and_completions(draw: st.DrawFn) -> tuple[list[int], list[tuple[str, int]]]:
    """Increasing offsets with random gaps (compacted topics), and an interleaving of their
    ``add`` (in fetch order) and ``done`` (in any order, each after its own ``add``)."""
    gaps = draw(st.lists(st.integers(1, 5), min_size=1, max_size=40))
    start = draw(st.integers(0, 10_000))
    offsets = [start + sum(gaps[:i]) for i in range(len(gaps))]
    completion = draw(st.permutations(offsets))
    steps: list[tuple[str, int]] = []
    added = 0
    remaining = list(completion)
    while added < len(offsets) or remaining:
        ready = [o for o in remaining if o in offsets[:added]]
        if added < len(offsets) and (not ready or draw(st.booleans())):
            steps.append(("add", offsets[added]))
            added += 1
        else:
            offset = ready[0]
            remaining.remove(offset)
            steps.append(("done", offset))
    return offsets, steps


@given(fetches_and_completions())
def test_committable_never_passes_an_unfinished_offset(
    case: tuple[list[int], list[tuple[str, int]]],
) -> None:
    """Under any arrival and completion order the position is monotonic, never past an
    unfinished offset, and last+1 once everything is done."""
    offsets, steps = case
    tracker = OffsetTracker()
    added: list[int] = []
    finished: set[int] = set()
    previous: int | None = None
    for kind, offset in steps:
        if kind == "add":
            tracker.add(offset)
            added.append(offset)
        else:
            tracker.done(offset)
            finished.add(offset)
        position = tracker.committable()
        unfinished = [o for o in added if o not in finished]
        if position is not None:
            assert all(o >= position for o in unfinished)
            assert previous is None or position >= previous
        # As far as it may go: just past the last offset below the first unfinished one.
        limit = unfinished[0] if unfinished else float("inf")
        assert position == max((o + 1 for o in added if o < limit), default=None)
        assert tracker.outstanding == len(unfinished)
        assert tracker.first_unfinished() == (unfinished[0] if unfinished else None)
        previous = position
    assert tracker.committable() == offsets[-1] + 1


def test_nothing_is_committable_before_the_first_record_finishes() -> None:
    """A later record finishing first does not move the position."""
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.add(offset)
    tracker.done(12)
    tracker.done(11)
    assert tracker.committable() is None
    tracker.done(10)
    assert tracker.committable() == 13


def test_gaps_of_a_compacted_topic_do_not_hold_the_position() -> None:
    """Offsets missing from the log (compaction) are skipped over."""
    tracker = OffsetTracker()
    for offset in (3, 7, 20):
        tracker.add(offset)
    tracker.done(3)
    assert tracker.committable() == 4
    tracker.done(20)
    assert tracker.committable() == 4
    tracker.done(7)
    assert tracker.committable() == 21


@pytest.mark.parametrize("offset", [4, 5])
def test_add_out_of_order_is_refused(offset: int) -> None:
    """An offset not above the last one added is refused."""
    tracker = OffsetTracker()
    tracker.add(5)
    with pytest.raises(ValueError, match="out of order"):
        tracker.add(offset)


def test_add_below_a_committed_offset_is_refused_after_the_tracker_drained() -> None:
    """Once every record finished, an old offset is still out of order (it would sit below
    the committable position)."""
    tracker = OffsetTracker()
    tracker.add(5)
    tracker.done(5)
    with pytest.raises(ValueError, match="out of order"):
        tracker.add(5)
    tracker.add(6)
    assert tracker.committable() == 6


def test_done_of_an_offset_not_outstanding_changes_nothing() -> None:
    """A repeated or unknown ``done`` neither moves the position nor pre-finishes a record."""
    tracker = OffsetTracker()
    tracker.add(1)
    tracker.done(1)
    tracker.done(1)
    tracker.done(2)  # not added yet
    tracker.add(2)
    assert tracker.committable() == 2
    assert tracker.outstanding == 1
