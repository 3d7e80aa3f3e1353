"""Per model-version statistics: Triton's statistics extension (`/v2/models/{m}/stats`) and the histograms behind
`/metrics`. Recorded on the event-loop thread only, so plain numbers suffice (no locks on the hot path)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from modelyard.server.metrics.snapshots import BATCH_SIZES, SECONDS, Histogram


@dataclass(slots=True)
class Counter:
    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def to_dict(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass(slots=True)
class ModelStats:
    success: Counter = field(default_factory=Counter)
    fail: Counter = field(default_factory=Counter)
    queue: Counter = field(default_factory=Counter)
    compute_infer: Counter = field(default_factory=Counter)
    inference_count: int = 0  # rows
    execution_count: int = 0  # batches run
    last_inference_ms: int = 0
    batches: dict[int, Counter] = field(default_factory=dict)
    request_seconds: Histogram = field(default_factory=lambda: Histogram(SECONDS))
    queue_seconds: Histogram = field(default_factory=lambda: Histogram(SECONDS))
    compute_seconds: Histogram = field(default_factory=lambda: Histogram(SECONDS))
    batch_size: Histogram = field(default_factory=lambda: Histogram(BATCH_SIZES))
    cold_starts: int = 0  # loads from zero on a request (`serve --idle-unload`)
    cold_start_seconds: float = 0.0  # their time, from the request to its answer, summed

    def record_request(self, ns: int, ok: bool) -> None:
        (self.success if ok else self.fail).add(ns)
        self.request_seconds.observe(ns / 1e9)

    def record_queue(self, seconds: float) -> None:
        self.queue.add(int(seconds * 1e9))
        self.queue_seconds.observe(seconds)

    def record_batch(self, rows: int, compute_ns: int, requests: int) -> None:
        self.execution_count += 1
        self.inference_count += rows
        self.compute_infer.add(compute_ns, requests)
        self.batches.setdefault(rows, Counter()).add(compute_ns)
        self.compute_seconds.observe(compute_ns / 1e9)
        self.batch_size.observe(rows)
        self.last_inference_ms = int(time.time() * 1000)

    def record_cold_start(self, seconds: float) -> None:
        self.cold_starts += 1
        self.cold_start_seconds += seconds

    def snapshot(self) -> dict[str, Any]:
        return {
            "cold_starts": self.cold_starts,
            "cold_start_seconds": self.cold_start_seconds,
            "success": self.success.to_dict(),
            "fail": self.fail.to_dict(),
            "queue": self.queue.to_dict(),
            "compute_infer": self.compute_infer.to_dict(),
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "last_inference_ms": self.last_inference_ms,
            "batches": {str(size): c.to_dict() for size, c in self.batches.items()},
            "request_seconds": self.request_seconds.to_dict(),
            "queue_seconds": self.queue_seconds.to_dict(),
            "compute_seconds": self.compute_seconds.to_dict(),
            "batch_size": self.batch_size.to_dict(),
        }


def triton_stats(name: str, version: str, snap: dict[str, Any]) -> dict[str, Any]:
    """Triton's shape, from a (possibly merged) snapshot. Input and output copies are part of compute_infer here,
    reported with its count and zero time: clients such as perf_analyzer require the three counts to agree."""
    zero = {"count": 0, "ns": 0}
    infer = snap["compute_infer"]
    return {
        "name": name,
        "version": version,
        "last_inference": snap["last_inference_ms"],
        "inference_count": snap["inference_count"],
        "execution_count": snap["execution_count"],
        "inference_stats": {
            "success": snap["success"],
            "fail": snap["fail"],
            "queue": snap["queue"],
            "compute_input": {"count": infer["count"], "ns": 0},
            "compute_infer": infer,
            "compute_output": {"count": infer["count"], "ns": 0},
            "cache_hit": zero,
            "cache_miss": zero,
        },
        "batch_stats": [
            {
                "batch_size": int(size),
                "compute_input": {"count": c["count"], "ns": 0},
                "compute_infer": c,
                "compute_output": {"count": c["count"], "ns": 0},
            }
            for size, c in sorted(snap["batches"].items(), key=lambda kv: int(kv[0]))
        ],
    }
