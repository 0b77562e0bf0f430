"""TokenBucket (GCRA): the window bound, full and empty starts, and the Retry-After pause."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wawp_gateway.worker.ratelimit import TokenBucket

TOLERANCE = 1e-9

rates = st.sampled_from([1.0, 6.0, 30.0, 60.0, 100.0, 600.0, 6000.0]) | st.floats(1.0, 600.0)
bursts = st.integers(1, 10)
# A step: wait a while, or wait just as long as the bucket says; call then (bypass or not);
# now and then Wawp answers 429 and the instance pauses.
steps = st.lists(
    st.tuples(
        st.one_of(st.just(None), st.floats(0.0, 5.0)),  # None: wait exactly wait_time
        st.booleans(),  # bypass (ignore_pause)
        st.one_of(st.just(None), st.floats(0.0, 10.0)),  # pause for this long after the call
    ),
    max_size=60,
)


def drive(bucket: TokenBucket, start: float, plan: list) -> list[float]:
    """Run ``plan`` with explicit times; a call is made only when ``wait_time`` says 0."""
    now = start
    calls = []
    for wait, bypass, pause in plan:
        now += bucket.wait_time(now, ignore_pause=bypass) if wait is None else wait
        if bucket.wait_time(now, ignore_pause=bypass) == 0:
            bucket.take(now)
            calls.append(now)
        if pause is not None:
            bucket.pause_until(now + pause)
    return calls


def most_in_a_window(calls: list[float], allowed) -> None:
    """Every window between two call times holds at most ``allowed(a, b)`` calls."""
    for i, a in enumerate(calls):
        for j in range(i, len(calls)):
            b = calls[j]
            assert j - i + 1 <= allowed(a, b) + TOLERANCE, (i, j, a, b)


@given(rates, bursts, st.floats(0.0, 1000.0), st.booleans(), steps)
def test_no_window_holds_more_than_burst_plus_rate(
    rate: float, burst: int, start: float, full: bool, plan: list
) -> None:
    """In every window [a, b] calls <= burst + rate * (b - a) / 60, pauses or not."""
    bucket = TokenBucket(rate, burst, start, full=full)
    calls = drive(bucket, start, plan)
    most_in_a_window(calls, lambda a, b: burst + rate * (b - a) / 60)


@given(rates, bursts, st.floats(0.0, 1000.0), steps)
def test_an_empty_bucket_earns_each_token_after_it_was_created(
    rate: float, burst: int, start: float, plan: list
) -> None:
    """Empty start: the k-th call comes no earlier than k intervals after creation, so calls in
    [a, b] <= min(burst, rate * (a - created) / 60) + rate * (b - a) / 60."""
    bucket = TokenBucket(rate, burst, start, full=False)
    calls = drive(bucket, start, plan)
    interval = 60.0 / rate
    for k, at in enumerate(calls, start=1):
        assert at >= start + k * interval - TOLERANCE * max(1.0, k * interval)
    most_in_a_window(
        calls,
        lambda a, b: min(burst, rate * (a - start) / 60) + rate * (b - a) / 60,
    )


@pytest.mark.parametrize("burst", [1, 3, 5])
def test_a_full_bucket_allows_exactly_burst_immediate_calls(burst: int) -> None:
    """Full start: ``burst`` calls at once, the next one interval later."""
    bucket = TokenBucket(60.0, burst, 100.0, full=True)
    for _ in range(burst):
        assert bucket.wait_time(100.0) == 0
        bucket.take(100.0)
    assert bucket.wait_time(100.0) == pytest.approx(1.0)


@pytest.mark.parametrize("burst", [1, 5])
def test_an_empty_bucket_allows_the_first_call_one_interval_on(burst: int) -> None:
    """Empty start: nothing now, the first call after one interval, then one per interval."""
    bucket = TokenBucket(60.0, burst, 100.0, full=False)
    assert bucket.wait_time(100.0) == pytest.approx(1.0)
    assert bucket.wait_time(100.999) > 0
    assert bucket.wait_time(101.0) == 0
    bucket.take(101.0)
    assert bucket.wait_time(101.0) == pytest.approx(1.0)


def test_an_idle_empty_bucket_fills_up_to_burst() -> None:
    """After a long idle spell an empty-started bucket allows ``burst`` calls at once: the
    ``rate * T / 60 + 1`` bound holds only from its creation on, not in every window."""
    bucket = TokenBucket(60.0, 4, 0.0, full=False)
    for _ in range(4):
        assert bucket.wait_time(100.0) == 0
        bucket.take(100.0)
    assert bucket.wait_time(100.0) > 0


def test_pause_delays_callers_but_not_session_actions() -> None:
    """A 429 pause holds ordinary calls until its end; ``ignore_pause`` callers only wait
    for a token."""
    bucket = TokenBucket(60.0, 5, 0.0, full=True)
    bucket.pause_until(30.0)
    assert bucket.wait_time(10.0) == pytest.approx(20.0)
    assert bucket.wait_time(10.0, ignore_pause=True) == 0
    assert bucket.wait_time(30.0) == 0
    assert bucket.paused_until() == 30.0


def test_a_shorter_pause_does_not_shorten_a_longer_one() -> None:
    """Pauses only ever extend."""
    bucket = TokenBucket(60.0, 5, 0.0, full=True)
    bucket.pause_until(30.0)
    bucket.pause_until(20.0)
    assert bucket.paused_until() == 30.0


def test_session_actions_still_pay_for_their_tokens() -> None:
    """``ignore_pause`` skips the pause, not the bucket."""
    bucket = TokenBucket(60.0, 1, 0.0, full=True)
    bucket.take(0.0)
    bucket.pause_until(100.0)
    assert bucket.wait_time(0.0, ignore_pause=True) == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (60.0, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    """A rate must be positive and a burst at least 1."""
    with pytest.raises(ValueError, match="rate_per_minute"):
        TokenBucket(rate, burst, 0.0, full=True)


@given(rates, bursts, rates, bursts, st.booleans(), steps, steps)
def test_a_retuned_bucket_keeps_the_new_bound_and_grants_no_fresh_burst(
    rate: float,
    burst: int,
    new_rate: float,
    new_burst: int,
    full: bool,
    before: list,
    after: list,
) -> None:
    """After ``retune`` at time c: every window holds at most new_burst + new_rate * T / 60
    calls, and [c, b] at most min(L, new_burst) + new_rate * (b - c) / 60, where L is the old
    bucket's level at c (its whole tokens plus the part of the next one already earned):
    calls already granted stand, and a change never hands out tokens the bucket did not hold."""
    changed = 100.0
    bucket = TokenBucket(rate, burst, 0.0, full=full)
    drive(bucket, 0.0, before)
    probe = TokenBucket(rate, burst, 0.0, full=full)
    drive(probe, 0.0, before)
    whole = 0
    while probe.wait_time(changed, ignore_pause=True) == 0:
        probe.take(changed)
        whole += 1
    level = whole + 1 - probe.wait_time(changed, ignore_pause=True) / (60 / rate)

    bucket.retune(new_rate, new_burst, changed)
    calls = [t for t in drive(bucket, changed, after)]

    most_in_a_window(calls, lambda a, b: new_burst + new_rate * (b - a) / 60)
    for n, b in enumerate(calls, start=1):
        assert n <= min(level, new_burst) + new_rate * (b - changed) / 60 + TOLERANCE


def test_a_lower_rate_is_paid_from_the_next_token() -> None:
    """A bucket drained at 60/min and retuned to 6/min: its next token is 10 s off, not 1."""
    bucket = TokenBucket(60, 5, 0.0, full=True)
    for _ in range(5):
        bucket.take(0.0)
    assert bucket.wait_time(0.0) == pytest.approx(1.0)
    bucket.retune(6, 5, 0.0)
    assert bucket.wait_time(0.0) == pytest.approx(10.0)


def test_a_retune_to_a_larger_burst_grants_no_more_than_the_bucket_held() -> None:
    """Two tokens left of a burst of 5; the burst raised to 50: still two at once."""
    bucket = TokenBucket(60, 5, 0.0, full=True)
    for _ in range(3):
        bucket.take(0.0)
    bucket.retune(600, 50, 0.0)
    granted = 0
    while bucket.wait_time(0.0) == 0:
        bucket.take(0.0)
        granted += 1
    assert granted == 2
