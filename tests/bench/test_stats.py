"""The load run's figures: windows, the stability rule, percentiles over the measured interval only."""

from __future__ import annotations

import pytest

from modelyard.bench.stats import stable, summarize, window_rates


def test_window_rates_count_completions_per_whole_window() -> None:
    done = [10.1, 10.2, 10.6, 11.1, 11.9, 12.5]
    assert window_rates(done, start=10.0, window_s=1.0, now=12.7) == [3.0, 2.0]  # 12.x is not a whole window yet
    assert window_rates(done, start=10.0, window_s=0.5, now=11.0) == [4.0, 2.0]
    assert window_rates(done, start=10.0, window_s=1.0, now=10.5) == []


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        ([100, 101, 99], True),
        ([50, 100, 101, 99], True),  # only the last three count: a warming start is fine
        ([100, 120, 99], False),  # 120 is 14 % above the mean
        ([100, 101], False),  # not enough windows
        ([0, 0, 0], False),  # nothing completed is not a stable result
    ],
)
def test_stable_means_three_windows_within_ten_percent(rates: list[float], expected: bool) -> None:
    assert stable(rates) is expected


def test_summary_counts_only_the_measured_interval_and_errors_apart() -> None:
    done = [0.5, 1.5, 1.6, 1.7, 2.5, 3.5]
    latency = [9.0, 0.001, 0.002, 0.003, 0.010, 9.0]
    ok = [True, True, True, False, True, True]
    s = summarize(done, latency, ok, start=1.0, end=3.0)
    assert (s.requests, s.errors, s.seconds) == (4, 1, 2.0)
    assert s.throughput == 1.5  # three good ones in two seconds
    assert s.p50_ms == pytest.approx(2.0)  # of the good ones: 1, 2, 10 ms
    assert s.p99_ms == pytest.approx(9.84)
