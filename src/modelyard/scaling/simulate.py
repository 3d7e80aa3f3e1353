"""A load trace through an autoscaler and a model of its replicas, second by second: how many seconds broke the
latency budget, how many replica-seconds it cost, how often it scaled. Pure: the trace and the replicas' figures
in, numbers out, so that modelyard's policy, Kubernetes' HPA on CPU and Knative's KPA meet the same load.

The replicas are a fluid queue. Each carries `throughput` requests a second at its capacity (`capacity` in flight,
the card's figures), so a request takes `capacity / throughput` seconds (Little's law) when none wait; arrivals
beyond what the ready replicas serve wait in one backlog, and a second's latency is the service time plus the
backlog's wait. A second breaks the budget when that latency exceeds it, or when requests arrive and no replica is
ready (they wait for a cold start). A new replica is ready `cold_start_s` after it is asked for; one asked to leave
leaves at once (a drained scale-down loses nothing: the server drains, section 2).
"""

from __future__ import annotations

import csv
import io
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidArgument
from modelyard.scaling.policy import Autoscaler, Policy

TRACES = ("daily", "spike")  # shipped with the package: modelyard/scaling/traces/*.csv


@dataclass(frozen=True)
class Replicas:
    capacity: float  # in flight, at the latency budget
    throughput: float  # requests a second at that concurrency
    budget_s: float  # the latency budget
    cold_start_s: float = 1.0
    cpu_at_capacity: float = 0.6  # the CPU share a replica reaches at its capacity (what an HPA on CPU sees)

    @property
    def service_s(self) -> float:
        return self.capacity / self.throughput


@dataclass
class Result:
    name: str
    slo_violating_s: int = 0
    replica_s: float = 0.0
    scale_events: int = 0
    peak_replicas: int = 0
    timeline: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "slo_violating_s": self.slo_violating_s, "replica_s": round(self.replica_s, 1),
                "scale_events": self.scale_events, "peak_replicas": self.peak_replicas}  # fmt: skip


Decide = Callable[[float, float, float, int], int]  # (now, in flight, CPU share, replicas) -> replicas


def read_trace(source: str) -> list[float]:
    """Arrivals per second, a value per second: a CSV of `t,rate` (seconds from the start, requests a second; the
    rate holds until the next row), or the name of a shipped trace (daily, spike)."""
    if source in TRACES:
        text = resources.files("modelyard.scaling").joinpath(f"traces/{source}.csv").read_text()
    else:
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise InvalidArgument(f"--trace {source}: {exc.strerror or exc} (or name a shipped trace: "
                                  f"{', '.join(TRACES)})") from None  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(text)))
    try:
        points = sorted((float(r["t"]), float(r["rate"])) for r in rows)
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument(f"--trace {source}: expected a CSV with columns t,rate of numbers") from None
    if not points or any(rate < 0 for _, rate in points):
        raise InvalidArgument(f"--trace {source}: give at least one row, and rates of 0 or more")
    end = int(points[-1][0]) + 1
    rates, i = [], 0
    for second in range(end):
        while i + 1 < len(points) and points[i + 1][0] <= second:
            i += 1
        rates.append(points[i][1])
    return rates


def simulate(name: str, rates: Sequence[float], replicas: Replicas, decide: Decide, start: int = 1,
             tick_s: int = 1) -> Result:  # fmt: skip
    """`decide` is asked every `tick_s` seconds what it observes and returns the replicas it wants."""
    result = Result(name)
    ready, starting = start, deque[float]()
    wanted, backlog, in_flight, cpu = start, 0.0, 0.0, 0.0
    for now, rate in enumerate(rates):
        while starting and starting[0] <= now:
            starting.popleft()
            ready += 1
        if now % tick_s == 0:
            new = decide(float(now), in_flight, cpu, ready + len(starting))
            if new != wanted:
                result.scale_events += 1
                wanted = new
            while ready + len(starting) < wanted:
                starting.append(now + replicas.cold_start_s)
            while ready + len(starting) > wanted:
                if starting:
                    starting.pop()
                else:
                    ready -= 1
        served = ready * replicas.throughput
        backlog = max(0.0, backlog + rate - served)
        carried = min(rate + backlog, served)
        wait = backlog / served if served else math.inf
        latency = replicas.service_s + wait
        if (rate > 0 or backlog > 0) and latency > replicas.budget_s:
            result.slo_violating_s += 1
        in_flight = carried * replicas.service_s + backlog
        cpu = replicas.cpu_at_capacity * (carried / served if served else 0.0)
        result.replica_s += ready + len(starting)
        result.peak_replicas = max(result.peak_replicas, ready + len(starting))
        result.timeline.append(ready)
    return result


def ours(policy: Policy) -> Decide:
    scaler = Autoscaler(policy)

    def decide(now: float, in_flight: float, cpu: float, current: int) -> int:
        scaler.observe(now, in_flight)
        return scaler.decide(now, current)

    return decide


def knative(min_replicas: int = 0, max_replicas: int = 10) -> Decide:
    """Knative's KPA with its defaults: a target of 100 concurrent requests a pod at 70 % utilisation, a 60 s
    stable and 6 s panic window, panic at 200 %, scale to zero after 30 s of grace (config-autoscaler defaults)."""
    policy = Policy(capacity=100.0, target_ratio=0.7, min_replicas=min_replicas, max_replicas=max_replicas,
                    downscale_delay_s=0.0, scale_to_zero_delay_s=30.0)  # fmt: skip
    return ours(policy)


def hpa_cpu(target: float = 0.7, min_replicas: int = 1, max_replicas: int = 10, sync_s: float = 15.0,
            stabilization_s: float = 300.0, tolerance: float = 0.1) -> Decide:  # fmt: skip
    """Kubernetes' HPA on CPU utilisation with its defaults: every 15 s, `ceil(replicas x utilisation / target)`
    outside a 10 % tolerance; down to the highest of the last 5 minutes' recommendations; up by at most 100 % or 4
    pods a period; never below one replica."""
    history: deque[tuple[float, int]] = deque()
    state = {"last": -math.inf, "value": min_replicas}

    def decide(now: float, in_flight: float, cpu: float, current: int) -> int:
        if now - state["last"] < sync_s:
            return int(state["value"])
        state["last"] = now
        ratio = cpu / target
        wanted = current if abs(ratio - 1) <= tolerance else math.ceil(current * ratio)
        wanted = min(max_replicas, max(min_replicas, wanted, 1))
        history.append((now, wanted))
        while history and history[0][0] < now - stabilization_s:
            history.popleft()
        if wanted < current:
            wanted = max(n for _, n in history)
        wanted = min(wanted, max(2 * current, current + 4))
        state["value"] = wanted
        return wanted

    return decide


def compare(rates: Sequence[float], replicas: Replicas, policy: Policy) -> list[Result]:
    """modelyard's policy, Knative's KPA and an HPA on CPU at 70 % on the same trace and replicas."""
    start = max(1, policy.min_replicas)
    return [
        simulate("modelyard", rates, replicas, ours(policy), start),
        simulate("knative-kpa", rates, replicas, knative(policy.min_replicas, policy.max_replicas), start, tick_s=2),
        simulate("hpa-cpu-70", rates, replicas, hpa_cpu(0.7, max(1, policy.min_replicas), policy.max_replicas), start),
    ]
