"""The load run's figures: windows, the stability rule, percentiles over the measured interval only."""

from __future__ import annotations

import asyncio

import pytest

from modelyard.bench.stats import Windows, stable, summarize, window_rates, windows_until_stable


def test_window_rates_count_completions_per_whole_window() -> None:
    done = [10.1, 10.2, 10.6, 11.1, 11.9, 12.5]
    assert window_rates(done, start=10.0, window_s=1.0, count=2) == [3.0, 2.0]  # 12.5 is in the third window
    assert window_rates(done, start=10.0, window_s=0.5, count=2) == [4.0, 2.0]
    assert window_rates(done, start=10.0, window_s=1.0, count=0) == []


class EarlyTimers:
    """A clock and a sleep that, like uvloop's millisecond timers, wake up to 0.9 ms before they were asked to."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.looks: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds - 0.0009, seconds / 2)


def steady(start: float, rate: float, seconds: float) -> list[float]:
    return [start + (i + 0.5) / rate for i in range(int(rate * seconds))]  # off the windows' edges


def test_each_window_is_judged_once_as_it_closes_even_when_timers_fire_early() -> None:
    timers = EarlyTimers(now=100.0)
    looked = lambda rates: timers.looks.append(timers.now)  # noqa: E731
    done = steady(100.0, 1000, 60)
    rates = asyncio.run(windows_until_stable(done, 100.0, Windows(window_s=2.0), timers.clock, timers.sleep, looked))
    assert rates == [1000.0, 1000.0, 1000.0]
    # Three looks, each just past its window's edge: not a look a whole window late, nor two looks at one edge.
    assert [round(t - 100.0, 2) for t in timers.looks] == [2.0, 4.0, 6.0]
    assert all(t >= 100.0 + 2.0 * (i + 1) for i, t in enumerate(timers.looks))


def test_an_unstable_load_stops_after_the_most_windows_allowed() -> None:
    timers = EarlyTimers(now=0.0)
    done = [t for k in range(10) for t in steady(float(k), 100.0 * (k % 2 + 1), 1.0)]  # 100/s, 200/s, 100/s, ...
    rates = asyncio.run(windows_until_stable(done, 0.0, Windows(window_s=1.0, max_windows=5), timers.clock,
                                             timers.sleep))  # fmt: skip
    assert rates == [100.0, 200.0, 100.0, 200.0, 100.0]
    assert 5.0 <= timers.now < 5.01


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
