"""RetryPolicy: exponential backoff with equal jitter, Retry-After capped, attempts/elapsed caps."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes import DEFAULT_POLICY
from wawp_gateway.worker.retry import RetryPolicy

POLICY = DEFAULT_POLICY


@given(attempt=st.integers(1, 200), seed=st.integers(0, 2**32))
def test_delay_keeps_at_least_half_the_backoff(attempt: int, seed: int) -> None:
    """Equal jitter: between half and all of min(max, initial * 2^(attempt-1))."""
    base = min(POLICY.backoff_max_s, POLICY.backoff_initial_s * 2 ** (attempt - 1))
    delay = POLICY.delay(attempt, rng=random.Random(seed))
    assert base / 2 <= delay <= base


@pytest.mark.parametrize(("attempt", "base"), [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0)])
def test_backoff_doubles_up_to_its_maximum(attempt: int, base: float) -> None:
    """0.5, 1, 2, ... capped at backoff_max_s."""
    delays = [POLICY.delay(attempt, rng=random.Random(s)) for s in range(50)]
    assert min(delays) >= base / 2
    assert max(delays) <= base


@pytest.mark.parametrize("attempt", [1_025, 5_000, 10**6])
def test_very_late_attempts_wait_the_maximum_without_overflow(attempt: int) -> None:
    """A policy with thousands of attempts keeps backing off at backoff_max_s."""
    policy = RetryPolicy(10**7, 10**9, 0.5, 30.0, 60.0)
    assert 15.0 <= policy.delay(attempt, rng=random.Random(0)) <= 30.0


def test_jitter_spreads_delays() -> None:
    """Different random draws give different delays (a burst of failures spreads out)."""
    assert len({POLICY.delay(4, rng=random.Random(s)) for s in range(20)}) > 1


def test_zero_backoff_means_no_wait() -> None:
    """Tests and operators can turn backoff off."""
    policy = RetryPolicy(3, 10.0, 0.0, 0.0, 60.0)
    assert policy.delay(5) == 0.0


@given(retry_after=st.floats(0, 10_000), attempt=st.integers(1, 10))
def test_retry_after_is_honoured_up_to_its_cap(retry_after: float, attempt: int) -> None:
    """The delay is at least min(Retry-After, retry_after_max_s), and never more than needed."""
    delay = POLICY.delay(attempt, retry_after_s=retry_after, rng=random.Random(1))
    floor = min(retry_after, POLICY.retry_after_max_s)
    backoff = min(POLICY.backoff_max_s, POLICY.backoff_initial_s * 2 ** (attempt - 1))
    assert delay >= floor
    assert delay <= max(floor, backoff)


def test_retry_after_above_the_cap_waits_the_cap() -> None:
    """An hour's Retry-After waits retry_after_max_s."""
    assert POLICY.delay(1, retry_after_s=3_600, rng=random.Random(0)) == 60.0


@pytest.mark.parametrize(
    ("attempts", "elapsed", "delay", "allowed"),
    [
        (1, 0.0, 1.0, True),
        (4, 0.0, 1.0, True),
        (5, 0.0, 1.0, False),  # max_attempts calls made
        (1, 299.0, 1.0, True),  # exactly at the elapsed cap
        (1, 299.0, 1.5, False),  # the next call would start past it
        (1, 301.0, 0.0, False),
    ],
)
def test_allows_checks_attempts_and_elapsed(
    attempts: int, elapsed: float, delay: float, allowed: bool
) -> None:
    """Another call is allowed under max_attempts and if it starts within max_elapsed_s."""
    assert POLICY.allows(attempts, elapsed, delay) is allowed


def test_a_single_attempt_policy_never_retries() -> None:
    """max_attempts=1 means no retry at all."""
    assert not RetryPolicy(1, 300.0, 0.5, 30.0, 60.0).allows(1, 0.0, 0.0)
