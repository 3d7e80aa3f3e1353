"""Waking the event loop at sub-millisecond times, for open-loop arrivals.

uvloop's timers (libuv's) count in milliseconds, so `asyncio.sleep(0.0003)` returns at the next turn of the loop:
at once. Pacing Poisson arrivals at 4,000/s (a mean gap of 250 µs) that way sent 34 % of requests early and left
83 % of gaps under 50 µs, where a Poisson process has 18 %: the generator sent a burst every millisecond, and the
server's queueing behind those bursts put our open-loop p99 at 2.3-2.8x perf_analyzer's on the same load
(docs/measurements.md, "Agreement with perf_analyzer"). The standard loop rounds up instead: never early, the
same bursts.

An interval timer counts in microseconds. `setitimer` delivers SIGALRM, and the loop's own signal handling turns
it into a callback on the loop, so nothing blocks and no thread is involved. Measured alone at 4,000/s: no early
wake-up, a median 91 µs late (`time.sleep` on the same VM: 110 µs), 48 µs of CPU per wake-up.

A timer that fires on time still wakes the process late when the vCPU it runs on sat idle: on these VMs a
generator alone on its core woke a median 76-213 µs late at 300/s (43-83 µs at 4,000/s, where it rarely idles).
Counted from the scheduled arrival, that lateness is the generator's, not the server's: W2 at 300/s read
1.54-1.74 ms at the median where tcpdump saw 1.17-1.25 ms between request and reply. So the pacer learns how late
its alarms wake (`Lateness`, the 90th percentile of the last 32), arms that much early, and yields turn by turn for
the rest. Alone at 300/s on one VM: late p50 76 -> 2 µs, p90 163 -> 59 µs, p99 300 -> 203 µs, for 137 instead of
88 µs of CPU per wake-up (the busy margin, capped at 1 ms; the generator's reported cost per request includes it).

SIGALRM is one per process. Where it cannot be taken (not the main thread, a handler already installed, no
`setitimer` on the platform) the pacer sleeps on the loop's timers to the last millisecond and yields turn by turn
for the rest: never early either, at the price of a busy loop in that millisecond.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import deque
from collections.abc import Callable

_TICK_S = 0.001  # the coarsest timer resolution among the loops we run on


class Lateness:
    """How early to arm an alarm so that it wakes in time: a high percentile of how late recent alarms woke."""

    def __init__(self, window: int = 32, quantile: float = 0.9, cap_s: float = _TICK_S) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.quantile = quantile
        self.cap_s = cap_s
        self.margin_s = 0.0

    def observe(self, late_s: float) -> None:
        self.recent.append(max(late_s, 0.0))
        ranked = sorted(self.recent)
        self.margin_s = min(ranked[int(self.quantile * (len(ranked) - 1))], self.cap_s)


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.perf_counter, use_signal: bool = True) -> None:
        self.clock = clock
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        self._when = 0.0
        self.lateness = Lateness()
        self.uses_signal = use_signal and _signal_free()
        if self.uses_signal:
            self._loop.add_signal_handler(signal.SIGALRM, self._on_alarm)

    def __enter__(self) -> Pacer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.uses_signal:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._loop.remove_signal_handler(signal.SIGALRM)  # back to the default disposition
            self.uses_signal = False

    async def until(self, when: float) -> None:
        """Return at `when` (the clock's seconds) or as soon after as the machine allows; never before."""
        delay = when - self.clock()
        if delay <= 0:
            return
        if self.uses_signal:
            await self._alarm(when - self.lateness.margin_s)
        elif delay > 2 * _TICK_S:
            await asyncio.sleep(delay - _TICK_S)
        while self.clock() < when:  # the margin, or the last tick: a few turns of the loop, which replies may use
            await asyncio.sleep(0)

    async def _alarm(self, when: float) -> None:
        delay = when - self.clock()
        if delay <= 1e-6:  # setitimer rounds a smaller delay to 0, which disarms instead of firing
            return
        self._when = when
        self._waiter = self._loop.create_future()
        signal.setitimer(signal.ITIMER_REAL, delay)
        try:
            await self._waiter
        finally:
            self._waiter = None
            signal.setitimer(signal.ITIMER_REAL, 0)  # a cancelled wait leaves no alarm behind

    def _on_alarm(self) -> None:
        remaining = self._when - self.clock()
        if remaining > 0:  # a timer that fired early (clocks differ): wait for the rest
            signal.setitimer(signal.ITIMER_REAL, remaining)
        elif self._waiter is not None and not self._waiter.done():
            self.lateness.observe(-remaining)
            self._waiter.set_result(None)


def _signal_free() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )
