"""bench.scrape.bucket_quantile: Prometheus's histogram_quantile over cumulative buckets."""

from __future__ import annotations

import math

import pytest
from bench.scrape import bucket_quantile

BUCKETS = [(0.005, 10.0), (0.01, 20.0), (0.05, 20.0), (math.inf, 20.0)]


def test_interpolates_inside_the_bucket_the_rank_falls_in() -> None:
    assert bucket_quantile(0.5, BUCKETS) == pytest.approx(0.005)
    assert bucket_quantile(0.99, BUCKETS) == pytest.approx(0.0099)
    assert bucket_quantile(0.25, BUCKETS) == pytest.approx(0.0025)


def test_order_of_the_buckets_does_not_matter() -> None:
    assert bucket_quantile(0.99, list(reversed(BUCKETS))) == pytest.approx(0.0099)


def test_a_rank_in_the_open_bucket_is_the_last_finite_bound() -> None:
    assert bucket_quantile(0.99, [(0.01, 5.0), (math.inf, 10.0)]) == 0.01


def test_no_observations_is_nan() -> None:
    assert math.isnan(bucket_quantile(0.5, [(0.01, 0.0), (math.inf, 0.0)]))
    assert math.isnan(bucket_quantile(0.5, []))
