"""Both versions under the same load, in the validation's process and through the same data plane: throughput at
full concurrency, latency under the same paced open-loop arrivals (the profiler's pacer), and what each took in
memory to load.

Each measure alternates the versions round by round, so that what the machine does meanwhile (another process, a
collection) falls on both alike, and takes a robust figure over the rounds (the best pass for throughput, the
median of the per-round ratios for latency): on this two-core VM a single pass of either swung by a third from run
to run for the same version.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modelyard.bench.pacer import Pacer
from modelyard.errors import ModelyardError
from modelyard.server.local import LocalPlane

Inputs = dict[str, np.ndarray]
CONCURRENCY = 64
ROUNDS = 5
ROUND_S = 0.15  # paced arrivals per version per round
LOAD_SHARE = 0.5  # the paced rate, as a share of the baseline's measured throughput
MAX_PACED = 4000  # requests per version per round, whatever the rate


@dataclass(frozen=True)
class Load:
    throughput: tuple[float, float]  # requests/s of the baseline and the candidate, at CONCURRENCY
    rate: float  # the paced arrivals' rate, requests/s
    p50_ms: tuple[float, float]  # medians over rounds of each round's p50, under the paced load
    p99_ms: tuple[float, float]
    p99_ratios: tuple[float, ...]  # per round: candidate p99 / baseline p99


async def _call(plane: LocalPlane, name: str, version: str, inputs: Inputs) -> None:
    with contextlib.suppress(ModelyardError):  # errors are the replay's to count; here only the time matters
        await plane.infer(name, inputs, version)


async def _pass(plane: LocalPlane, name: str, version: str, requests: Sequence[Inputs]) -> float:
    """Requests/s answering all of `requests`, CONCURRENCY at a time."""
    start = time.perf_counter()
    for first in range(0, len(requests), CONCURRENCY):
        await asyncio.gather(*(_call(plane, name, version, r) for r in requests[first : first + CONCURRENCY]))
    return len(requests) / max(time.perf_counter() - start, 1e-9)


async def _paced(plane: LocalPlane, name: str, version: str, requests: Sequence[Inputs], rate: float, seed: int
                 ) -> list[float]:  # fmt: skip
    """Poisson arrivals at `rate` for ROUND_S, cycling through `requests`; each latency counted from the arrival's
    scheduled time (open loop: a slow answer does not slow the arrivals, as a server's callers do not wait)."""
    rng = random.Random(seed)
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    clock = time.perf_counter

    async def one(scheduled: float, inputs: Inputs) -> None:
        await _call(plane, name, version, inputs)
        latencies.append(clock() - scheduled)

    start = next_at = clock()
    sent = 0
    with Pacer(clock) as pacer:
        while next_at < start + ROUND_S and sent < MAX_PACED:
            await pacer.until(next_at)
            task = asyncio.create_task(one(next_at, requests[sent % len(requests)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
            next_at += rng.expovariate(rate)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    return latencies


async def measure(plane: LocalPlane, name: str, versions: tuple[str, str], requests: Sequence[Inputs]) -> Load:
    """`versions`: (baseline, candidate), both loaded in `plane`."""
    best = [0.0, 0.0]
    for round_ in range(ROUNDS):
        for side in (0, 1) if round_ % 2 == 0 else (1, 0):
            best[side] = max(best[side], await _pass(plane, name, versions[side], requests))
    rate = LOAD_SHARE * best[0]
    p50: list[list[float]] = [[], []]
    p99: list[list[float]] = [[], []]
    for round_ in range(ROUNDS):
        for side in (0, 1) if round_ % 2 == 0 else (1, 0):
            latencies = await _paced(plane, name, versions[side], requests, rate, seed=round_)  # the same arrivals
            p50[side].append(float(np.quantile(latencies, 0.5)) * 1e3)
            p99[side].append(float(np.quantile(latencies, 0.99)) * 1e3)
    ratios = tuple(c / b if b > 0 else 1.0 for b, c in zip(p99[0], p99[1], strict=True))
    return Load(
        throughput=(best[0], best[1]),
        rate=rate,
        p50_ms=(statistics.median(p50[0]), statistics.median(p50[1])),
        p99_ms=(statistics.median(p99[0]), statistics.median(p99[1])),
        p99_ratios=ratios,
    )
