"""Per model-version counters in the shape of Triton's statistics extension (`/v2/models/{m}/stats`).

Recorded on the event loop thread only, so plain integers suffice (no locks on the hot path).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


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

    def record_batch(self, rows: int, compute_ns: int, requests: int) -> None:
        self.execution_count += 1
        self.inference_count += rows
        self.compute_infer.add(compute_ns, requests)
        self.batches.setdefault(rows, Counter()).add(compute_ns)
        self.last_inference_ms = int(time.time() * 1000)

    def to_triton(self, name: str, version: str) -> dict[str, Any]:
        """Triton's shape. Input and output copies are part of compute_infer here, reported with its count and
        zero time: clients such as perf_analyzer require the three compute counts to agree."""
        zero = Counter().to_dict()
        copies = {"count": self.compute_infer.count, "ns": 0}
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {
                "success": self.success.to_dict(),
                "fail": self.fail.to_dict(),
                "queue": self.queue.to_dict(),
                "compute_input": copies,
                "compute_infer": self.compute_infer.to_dict(),
                "compute_output": copies,
                "cache_hit": zero,
                "cache_miss": zero,
            },
            "batch_stats": [
                {
                    "batch_size": size,
                    "compute_input": {"count": c.count, "ns": 0},
                    "compute_infer": c.to_dict(),
                    "compute_output": {"count": c.count, "ns": 0},
                }
                for size, c in sorted(self.batches.items())
            ],
        }
