"""The benchmarks' arithmetic: the p99 they report is that of every request measured."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.harness import _combine, percentile_ms


def test_percentile_is_the_latency_that_many_requests_took_at_most():
    histogram = Counter({1_000: 98, 5_000: 1, 30_000: 1})  # microseconds
    assert percentile_ms(histogram, 50) == 1.0
    assert percentile_ms(histogram, 98) == 1.0
    assert percentile_ms(histogram, 99) == 5.0
    assert percentile_ms(histogram, 100) == 30.0
    with pytest.raises(ValueError):
        percentile_ms(Counter(), 99)


def test_rounds_merge_into_one_distribution_beside_the_worst_round():
    fast = {"rps": 100.0, "requests": 1_000, "p99_ms": 2.0, "non_2xx": 0, "socket_errors": ""}
    slow = {"rps": 50.0, "requests": 500, "p99_ms": 40.0, "non_2xx": 1, "socket_errors": "t 1"}
    fast["histogram"] = Counter({1_000: 990, 2_000: 10})
    slow["histogram"] = Counter({1_000: 490, 40_000: 10})
    combined = _combine([fast, slow])
    assert combined["rps"] == 75.0
    assert combined["requests"] == 1_500
    # 20 slower requests of 1,500: the p99 (the 1,485th) took 2 ms, whatever the worst round.
    assert combined["p99_ms"] == 2.0
    assert combined["worst_round_p99_ms"] == 40.0
    assert combined["non_2xx"] == 1 and combined["socket_errors"] == "t 1"
