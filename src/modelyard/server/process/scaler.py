"""How many workers the supervisor runs under `serve --workers MIN..MAX`: the scaling policy (modelyard.scaling)
fed with the requests in flight over all workers, read from the snapshots they write each second.

In flight is measured, not sampled: the time the workers' requests took, summed over an interval and divided by
it, is the average number in flight over that interval (Little's law), from the counters every worker already
keeps (a version's request count and total nanoseconds). Nothing is added to the request path, and the
supervisor stays lean: it reads JSON files, with no numpy, pydantic or prometheus_client.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.scaling.policy import Autoscaler, Policy


def busy_ns(snapshot: Mapping[str, Any]) -> int:
    """The nanoseconds a worker's requests have taken, over all its versions, since it started."""
    return sum(int(e["success"]["ns"]) + int(e["fail"]["ns"]) for k, e in snapshot.items() if not k.startswith("__"))


def policy_of(fields: Mapping[str, Any]) -> Policy:
    """The spec's `scaling` fields as the policy (the last worker never leaves: a server needs one to listen)."""
    return Policy(capacity=float(fields["capacity"]), target_ratio=float(fields.get("target_ratio", 0.7)),
                  min_replicas=max(1, int(fields["min_workers"])), max_replicas=int(fields["max_workers"]),
                  stable_window_s=float(fields.get("stable_window_s", 60.0)),
                  panic_window_s=min(6.0, float(fields.get("stable_window_s", 60.0)) / 10),
                  downscale_delay_s=float(fields.get("downscale_delay_s", 30.0)))  # fmt: skip


@dataclass
class WorkerScaler:
    folder: Path  # the workers' snapshot files, `<pid>.json`
    scaler: Autoscaler
    seen: dict[int, int] = field(default_factory=dict)  # pid -> its busy nanoseconds at the last look
    seen_at: float | None = None

    def in_flight(self, pids: Iterable[int], now: float) -> float | None:
        """The average requests in flight since the last look, over the workers seen both times."""
        totals = {}
        for pid in pids:
            try:
                totals[pid] = busy_ns(json.loads((self.folder / f"{pid}.json").read_text()))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not written yet (still loading), or being replaced
        previous, previous_at = self.seen, self.seen_at
        self.seen, self.seen_at = totals, now
        if previous_at is None or now <= previous_at:
            return None
        busy = sum(max(0, totals[p] - previous[p]) for p in totals if p in previous)
        return busy / 1e9 / (now - previous_at)

    def wanted(self, pids: list[int], now: float) -> int | None:
        """The workers to run, or None before there are two looks to measure between."""
        in_flight = self.in_flight(pids, now)
        if in_flight is None:
            return None
        self.scaler.observe(now, in_flight)
        return self.scaler.decide(now, len(pids))
