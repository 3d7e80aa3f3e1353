"""Per-model counters and histograms, shared across worker processes through snapshot files.

Recording is plain integer arithmetic on the event-loop thread (a bisect and an increment per observation), so it
costs the hot path next to nothing. Once a second each worker writes its snapshot to `<dir>/<pid>.json`; whoever
answers `/metrics` or `/stats` merges its live numbers with the other live workers' latest snapshots, so a server
with several workers reports as one.
"""

from __future__ import annotations

import bisect
import copy
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0)
STALE_S = 10.0
PROCESS = "__process__"  # a snapshot's key for its process, beside one per model version
TRAFFIC = "__traffic__"  # the traffic log's counts: logged, dropped


SHADOWS = "__shadows__"  # the shadows' candidates, keyed `name/version`: work that is not production's load


def model_entries(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """The snapshot's model versions (its other keys, `__process__` and the like, are the worker's own). Shadows'
    candidates are not among them: the scaler and the follower count what production serves."""
    return [value for key, value in snapshot.items() if not key.startswith("__")]


def reported_versions(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every version's entry as `/stats` and `/metrics` report it: a shadow's candidate among them, its calls
    added to the version's own where this server also serves it for its own callers."""
    own = {key: value for key, value in snapshot.items() if not key.startswith("__")}
    return merge_snapshots([own, snapshot.get(SHADOWS, {})]) if snapshot.get(SHADOWS) else own


@dataclass(slots=True)
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # one per bound, then +Inf
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def add(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "total": self.total}


MAX_FIELDS = frozenset({"last_inference_ms", "loaded", "since"})


def merge_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the snapshots of several workers: counters, histogram buckets and gauges add up; a few fields (the
    last inference time, "loaded") take the largest value."""
    merged: dict[str, Any] = {}
    for snapshot in snapshots:
        for key, value in snapshot.items():
            if key in merged:
                _add(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
    return merged


def _add(target: dict[str, Any], other: dict[str, Any]) -> None:
    for name, value in other.items():
        if name not in target:
            target[name] = copy.deepcopy(value)
        elif isinstance(value, dict):
            _add(target[name], value)
        elif isinstance(value, list):
            target[name] = [a + b for a, b in zip(target[name], value, strict=True)]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            target[name] = max(target[name], value) if name in MAX_FIELDS else target[name] + value


class SnapshotFiles:
    """Where workers leave their snapshots for each other."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.own = folder / f"{os.getpid()}.json"

    def write(self, snapshot: dict[str, Any]) -> None:
        tmp = self.own.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot))
        tmp.replace(self.own)

    def beat(self) -> None:
        """The file's time is this worker's heartbeat: its event loop writes it every period, so a loop that is
        stuck (a model blocking it, a deadlock) stops it, and the supervisor replaces the worker."""
        os.utime(self.own)

    def others(self) -> list[dict[str, Any]]:
        """The snapshots of the other live workers (of every worker, for a reader that is not one)."""
        now = time.time()
        found = []
        for path in self.folder.glob("*.json"):
            if path == self.own:
                continue
            try:
                if now - path.stat().st_mtime > STALE_S:
                    continue  # a worker that stopped writing is gone (or stuck); its numbers are not live
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # being replaced right now, or removed
        return found

    def remove(self) -> None:
        self.own.unlink(missing_ok=True)
