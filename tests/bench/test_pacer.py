"""The open-loop pacer: never early, on the signal path and on the fallback, and it gives SIGALRM back."""

from __future__ import annotations

import asyncio
import random
import signal
import time

import pytest

from modelyard.bench.loadgen import run
from modelyard.bench.pacer import Lateness, Pacer
from modelyard.testing import wait_until


async def wake_ups(use_signal: bool, gaps_s: list[float]) -> tuple[bool, list[float]]:
    """How late each wake-up was (s) at the given gaps; negative would be early."""
    late = []
    with Pacer(use_signal=use_signal) as pacer:
        used = pacer.uses_signal
        when = time.perf_counter()
        for gap in gaps_s:
            when += gap
            await pacer.until(when)
            late.append(time.perf_counter() - when)
    return used, late


@pytest.mark.parametrize("use_signal", [True, False])
def test_wakes_never_early_at_sub_millisecond_gaps(use_signal: bool) -> None:
    rng = random.Random(0)
    gaps = [rng.expovariate(4000) for _ in range(400)]  # Poisson at 4,000/s, as the open loop schedules them
    used, late = run(wake_ups(use_signal, gaps))
    assert used is use_signal  # the suite's timeout runs in a thread, so the signal path is the one tested
    assert min(late) >= 0


def test_gives_the_signal_and_the_timer_back() -> None:
    run(wake_ups(True, [0.0005] * 20))
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_cancelled_wait_leaves_no_alarm() -> None:
    async def cancel_midway() -> None:
        with Pacer() as pacer:
            waiting = asyncio.create_task(pacer.until(time.perf_counter() + 5))
            await asyncio.sleep(0.01)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)

    run(cancel_midway())


def test_leaves_a_handler_it_does_not_own_alone() -> None:
    calls: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda n, _: calls.append(n))
    try:
        used, late = run(wake_ups(True, [0.0003] * 10))
        assert not used
        assert min(late) >= 0
        signal.setitimer(signal.ITIMER_REAL, 0.001)
        wait_until(lambda: calls, 5, 0.001, what="the alarm")
        assert calls == [signal.SIGALRM]
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_arms_early_by_a_high_percentile_of_recent_lateness() -> None:
    lateness = Lateness(window=10, quantile=0.9, cap_s=0.001)
    assert lateness.margin_s == 0  # nothing seen: the alarm is armed on time
    for late_us in [10, 20, 30, 40, 50, 60, 70, 80, 90, 500]:
        lateness.observe(late_us * 1e-6)
    assert lateness.margin_s == pytest.approx(90e-6)  # one outlier in ten does not set the margin


def test_forgets_old_lateness_and_counts_early_as_on_time() -> None:
    lateness = Lateness(window=4, quantile=0.9, cap_s=0.001)
    for _ in range(4):
        lateness.observe(400e-6)  # an idle vCPU woke slowly...
    assert lateness.margin_s == pytest.approx(400e-6)
    for _ in range(4):
        lateness.observe(-50e-6)  # ...then it woke on time (or early: a clock step), and the margin falls away
    assert lateness.margin_s == 0


def test_never_spins_longer_than_the_cap() -> None:
    lateness = Lateness(window=4, quantile=0.9, cap_s=0.001)
    for _ in range(4):
        lateness.observe(0.05)  # a stalled loop, not a slow wake-up: not worth 50 ms of busy waiting
    assert lateness.margin_s == 0.001
