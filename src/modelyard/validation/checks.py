"""The gate's checks, pure: arrays in, a `Check` out (value, threshold, n, a 95 % interval where one applies, and
whether it passed: True, False, or None when the data cannot say).

Outputs are judged by kind. Integer outputs are labels; a 2-D float output whose rows are probabilities (each in
[0, 1], summing to 1) is judged by its argmax; both by the share of rows whose label flips, with a Wilson interval,
since "no flip in 200 requests" bounds the rate only at about 1.8 %. Other numeric outputs are judged against the
baseline's own noise: the same version answering the same requests batched and alone differs too (ONNX Runtime
and Triton both document it), so a tolerance taken from that measurement, not guessed, is what a candidate must meet.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.validation.policy import Policy

Z95 = 1.959964


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    threshold: float
    n: int
    passed: bool | None  # None: too few requests to decide
    interval: tuple[float, float] | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def line(self) -> str:
        bound = f" [{self.interval[0]:.4g}, {self.interval[1]:.4g}]" if self.interval else ""
        state = {True: "pass", False: "FAIL", None: "inconclusive"}[self.passed]
        return (
            f"{state}: {self.name} = {self.value:.4g}{bound} (threshold {self.threshold:.4g}, n={self.n}) {self.detail}"
        )


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (sound at k = 0, where the normal one collapses to [0, 0])."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def labels(output: np.ndarray) -> np.ndarray | None:
    """The labels an output stands for (its values if integers, the argmax of probability rows), or None."""
    if output.dtype.kind in "iub":
        return output.reshape(len(output), -1)[:, 0] if output.ndim > 1 else output
    if output.dtype.kind == "f" and output.ndim == 2 and output.shape[1] > 1 and np.isfinite(output).all():
        rows = output.astype(np.float64)
        if rows.min() >= 0 and rows.max() <= 1 and np.allclose(rows.sum(axis=1), 1.0, atol=1e-3):
            return np.asarray(np.argmax(rows, axis=1))
    return None


def flip_rate(name: str, baseline: np.ndarray, candidate: np.ndarray, policy: Policy) -> Check:
    n = len(baseline)
    flipped = baseline != candidate
    k = int(flipped.sum())
    low, high = wilson(k, n)
    matrix: dict[str, int] = {}
    for b, c in zip(baseline[flipped].tolist(), candidate[flipped].tolist(), strict=True):
        matrix[f"{b}->{c}"] = matrix.get(f"{b}->{c}", 0) + 1
    if high <= policy.max_flip_rate:
        passed: bool | None = True
    elif low > policy.max_flip_rate or k > policy.max_flip_rate * n:
        passed = False
    else:
        passed = None  # too few requests to bound the rate under the limit
    needed = math.ceil(Z95**2 / policy.max_flip_rate) if policy.max_flip_rate else 0
    detail = f"{k} of {n} rows flipped" + (f"; about {needed} requests with no flip decide" if passed is None else "")
    return Check(f"{name}: flip rate", k / n if n else 0.0, policy.max_flip_rate, n, passed, (low, high), detail,
                 {"flips": matrix})  # fmt: skip


def numeric(name: str, baseline: np.ndarray, candidate: np.ndarray, noise: np.ndarray, policy: Policy) -> Check:
    """The share of values within `atol + rtol·|baseline| + noise_factor·noise_max`, where noise_max is the
    baseline's largest difference from itself (batched against alone)."""
    b, c = baseline.astype(np.float64).ravel(), candidate.astype(np.float64).ravel()
    finite = np.isfinite(b) & np.isfinite(c)
    delta = np.abs(c - b)[finite]
    noise_max = float(np.max(noise)) if noise.size else 0.0
    tolerance = policy.atol + policy.rtol * np.abs(b[finite]) + policy.noise_factor * noise_max
    within = float(np.mean(delta <= tolerance)) if delta.size else 1.0
    p50, p99, top = (float(np.quantile(delta, q)) for q in (0.5, 0.99, 1.0)) if delta.size else (0.0, 0.0, 0.0)
    detail = f"|Δ| p50 {p50:.3g}, p99 {p99:.3g}, max {top:.3g}; noise floor {noise_max:.3g}"
    return Check(f"{name}: within tolerance", within, policy.min_within, int(delta.size), within >= policy.min_within,
                 None, detail, {"p50": p50, "p99": p99, "max": top, "noise_floor": noise_max})  # fmt: skip


def new_nonfinite(name: str, baseline: np.ndarray, candidate: np.ndarray, policy: Policy) -> Check:
    if baseline.dtype.kind != "f":
        return Check(f"{name}: new NaN/Inf", 0, policy.max_new_nonfinite, int(baseline.size), True)
    fresh = int((~np.isfinite(candidate) & np.isfinite(baseline)).sum())
    return Check(f"{name}: new NaN/Inf", fresh, policy.max_new_nonfinite, int(baseline.size),
                 fresh <= policy.max_new_nonfinite)  # fmt: skip


def new_errors(baseline_failed: list[str], candidate_failed: list[str], policy: Policy) -> Check:
    """Requests the candidate failed where the baseline answered; `*_failed`: "" or the error, per request."""
    fresh = [c for b, c in zip(baseline_failed, candidate_failed, strict=True) if c and not b]
    detail = f"first: {fresh[0]}" if fresh else ""
    return Check("new errors", len(fresh), policy.max_new_errors, len(baseline_failed),
                 len(fresh) <= policy.max_new_errors, None, detail)  # fmt: skip


def latency(baseline_s: list[float], candidate_s: list[float], policy: Policy) -> Check:
    b99, c99 = float(np.quantile(baseline_s, 0.99)), float(np.quantile(candidate_s, 0.99))
    ratio = c99 / b99 if b99 > 0 else 1.0
    b50, c50 = float(np.median(baseline_s)), float(np.median(candidate_s))
    detail = f"p99 {c99 * 1e3:.3g} ms against {b99 * 1e3:.3g}; p50 {c50 * 1e3:.3g} against {b50 * 1e3:.3g}"
    return Check("p99 latency ratio", ratio, policy.max_p99_ratio, len(baseline_s), ratio <= policy.max_p99_ratio,
                 None, detail)  # fmt: skip


def under_load(p99_ratios: Sequence[float], p50_ms: tuple[float, float], p99_ms: tuple[float, float], rate: float,
               policy: Policy) -> Check:  # fmt: skip
    """Both versions under the same paced arrivals: the median over rounds of each round's p99 ratio."""
    ratio = statistics.median(p99_ratios) if p99_ratios else 1.0
    detail = (f"at {rate:,.0f} requests/s: p99 {p99_ms[1]:.3g} ms against {p99_ms[0]:.3g}, p50 {p50_ms[1]:.3g} "
              f"against {p50_ms[0]:.3g} (medians of {len(p99_ratios)} rounds)")  # fmt: skip
    return Check("p99 under load ratio", ratio, policy.max_p99_ratio, len(p99_ratios), ratio <= policy.max_p99_ratio,
                 (min(p99_ratios), max(p99_ratios)) if p99_ratios else None, detail)  # fmt: skip


def throughput(baseline_rps: float, candidate_rps: float, policy: Policy) -> Check:
    ratio = candidate_rps / baseline_rps if baseline_rps > 0 else 1.0
    detail = f"{candidate_rps:,.0f} requests/s against {baseline_rps:,.0f} at full concurrency (best pass)"
    return Check("throughput ratio", ratio, policy.min_throughput_ratio, 1, ratio >= policy.min_throughput_ratio,
                 None, detail)  # fmt: skip


MEMORY_FLOOR = 16 << 20  # a load that grew the process less than this is within the allocator's noise


def memory(baseline_bytes: int, candidate_bytes: int, policy: Policy) -> Check:
    """What loading each version (with its warm-up) grew the process by, loaded one after the other."""
    mib = f"{candidate_bytes / (1 << 20):.1f} MiB against {baseline_bytes / (1 << 20):.1f}"
    if max(baseline_bytes, candidate_bytes) < MEMORY_FLOOR:
        return Check("memory ratio", 1.0, policy.max_memory_ratio, 1, True, None,
                     f"{mib}: both under {MEMORY_FLOOR >> 20} MiB, not compared")  # fmt: skip
    ratio = candidate_bytes / max(baseline_bytes, MEMORY_FLOOR)
    return Check("memory ratio", ratio, policy.max_memory_ratio, 1, ratio <= policy.max_memory_ratio, None, mib)


def enough(n: int, policy: Policy) -> Check:
    return Check("requests", n, policy.min_requests, n, True if n >= policy.min_requests else None,
                 detail="" if n >= policy.min_requests else f"at least {policy.min_requests} needed")  # fmt: skip
