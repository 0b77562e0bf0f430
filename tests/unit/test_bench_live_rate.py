"""bench.collect.live_rate: a system's results per second while the load was still arriving."""

from __future__ import annotations

import pytest
from bench.collect import live_rate


def test_counts_only_completions_inside_the_publishing_window() -> None:
    published = [100.0 + i * 0.01 for i in range(1001)]  # 100.0 .. 110.0, 100/s
    # A system keeping up at 60/s that drains the rest after the load client stopped.
    completed = [100.5 + i / 60 for i in range(1001)]
    rate = live_rate(published, completed, skip_s=2.0)
    assert rate == pytest.approx(60.0, rel=0.02)


def test_skips_the_first_seconds() -> None:
    published = [0.0, 10.0]
    completed = [0.5, 1.0, 1.5, 4.0, 6.0, 10.0, 12.0]
    assert live_rate(published, completed, skip_s=2.0) == pytest.approx(3 / 8)


def test_a_window_shorter_than_the_skip_or_no_load_is_zero() -> None:
    assert live_rate([0.0, 1.0], [0.5], skip_s=2.0) == 0.0
    assert live_rate([], [1.0], skip_s=0.0) == 0.0
