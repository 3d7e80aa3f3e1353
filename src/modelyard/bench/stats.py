"""Figures from a load run, without I/O (the clock and the sleep are passed in): windows, the stability rule,
percentiles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

STABLE_WINDOWS = 3
STABLE_WITHIN = 0.10


@dataclass(frozen=True)
class Windows:
    warmup_s: float = 1.0
    window_s: float = 1.0
    min_windows: int = STABLE_WINDOWS
    max_windows: int = 10


def window_rates(done_at: list[float], start: float, window_s: float, count: int) -> list[float]:
    """Completions per second in each of the first `count` windows since `start`. The caller says how many windows
    have closed (it slept to their edge): deriving it from a clock read at the edge miscounts, since a timer may
    fire a hair early and `(edge - start) // window_s` then rounds down a whole window."""
    if count <= 0:
        return []
    edges = start + window_s * np.arange(count + 1)
    hist, _ = np.histogram(np.asarray(done_at), bins=edges)
    return [float(h) / window_s for h in hist]


async def windows_until_stable(
    done_at: list[float],
    start: float,
    w: Windows,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    on_window: Callable[[list[float]], None] = lambda rates: None,
) -> list[float]:
    """Wait out windows until the last three agree (or `w.max_windows`), looking once per window edge. uvloop's
    timers fire up to a millisecond early: each wait is repeated until the clock has passed the edge, so a window
    is judged as soon as it closes and never a whole window late."""
    rates: list[float] = []
    while len(rates) < w.max_windows and not (len(rates) >= w.min_windows and stable(rates)):
        edge = start + (len(rates) + 1) * w.window_s
        while (left := edge - clock()) > 0:
            await sleep(left)
        rates = window_rates(done_at, start, w.window_s, len(rates) + 1)
        on_window(rates)
    return rates


def stable(rates: list[float], windows: int = STABLE_WINDOWS, within: float = STABLE_WITHIN) -> bool:
    """The last `windows` windows' throughputs are all within `within` of their mean."""
    if len(rates) < windows:
        return False
    last = rates[-windows:]
    mean = sum(last) / windows
    return mean > 0 and all(abs(r - mean) <= within * mean for r in last)


@dataclass(frozen=True)
class Summary:
    requests: int
    errors: int
    seconds: float
    throughput: float  # successful requests per second
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float


def summarize(done_at: list[float], latency: list[float], ok: list[bool], start: float, end: float) -> Summary:
    """Requests that completed in [start, end): the measurement, warm-up excluded."""
    t = np.asarray(done_at)
    inside = (t >= start) & (t < end)
    lat = np.asarray(latency)[inside]
    good = np.asarray(ok, dtype=bool)[inside]
    seconds = max(end - start, 1e-9)
    if not lat.size:
        return Summary(0, 0, seconds, 0.0, 0.0, 0.0, 0.0, 0.0)
    ms = np.percentile(lat[good] if good.any() else lat, [50, 90, 95, 99]) * 1e3
    return Summary(
        requests=int(lat.size),
        errors=int((~good).sum()),
        seconds=seconds,
        throughput=float(good.sum()) / seconds,
        p50_ms=float(ms[0]),
        p90_ms=float(ms[1]),
        p95_ms=float(ms[2]),
        p99_ms=float(ms[3]),
    )
