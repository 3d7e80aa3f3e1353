"""A reference profile: what each feature looked like on the data a version was built or validated on, in one
streaming pass with bounded memory, stored with the version (JSON, about 1 KB a feature) and compared with later
windows by `compare.py`.

Per feature: the rows seen and missing (NaN or absent), range, mean and standard deviation (exact, merged chunk by
chunk: Chan et al.'s update, so 10M rows in 64k chunks lose nothing to cancellation). Numeric features keep 20
equal-probability bins taken from a uniform sample of `SAMPLE` rows (the smallest of random keys: a bottom-k
sample, which two profiles can be merged from); the drift test then compares against those `SAMPLE` rows, and
its null accounts for that size, so the sample's error is in the p-value, not hidden. Categorical features (text,
booleans, integers with few values) keep exact counts of their commonest `MAX_CATEGORIES` values.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT = 1
SAMPLE = 4096
BINS = 20
MAX_CATEGORIES = 50
INTEGER_CATEGORIES = 20  # an integer feature with at most this many values is categorical


@dataclass
class _Moments:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, values: np.ndarray) -> None:
        n = len(values)
        if n == 0:
            return
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.low, self.high = min(self.low, float(values.min())), max(self.high, float(values.max()))


@dataclass
class _Feature:
    kind: str  # numeric | categorical | integer (decided at the end)
    rows: int = 0
    missing: int = 0
    moments: _Moments = field(default_factory=_Moments)
    counts: Counter[Any] = field(default_factory=Counter)
    too_many: bool = False  # an integer feature past INTEGER_CATEGORIES values: numeric


class ProfileBuilder:
    """`add` chunks of features (`features.features`), then `finish`."""

    def __init__(self, sample: int = SAMPLE, seed: int = 0) -> None:
        self.sample = sample
        self.rng = np.random.default_rng(seed)
        self.features: dict[str, _Feature] = {}
        self._keys = np.empty(0)
        self._kept: dict[str, np.ndarray] = {}
        self.rows = 0

    def add(self, chunk: Mapping[str, np.ndarray]) -> None:
        lengths = {len(v) for v in chunk.values()}
        if len(lengths) > 1:
            raise ValueError(f"features of different lengths in one chunk: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        if n == 0:
            return
        for name, values in chunk.items():
            self._observe(name, values)
        keys = np.concatenate([self._keys, self.rng.random(n)])
        keep = np.argpartition(keys, self.sample)[: self.sample] if len(keys) > self.sample else None
        for name, values in chunk.items():
            if self.features[name].kind == "categorical":
                continue
            old = self._kept.get(name, np.full(len(self._keys), np.nan))
            joined = np.concatenate([old, values.astype(np.float64, copy=False)])
            self._kept[name] = joined[keep] if keep is not None else joined
        self._keys = keys[keep] if keep is not None else keys
        self.rows += n

    def _observe(self, name: str, values: np.ndarray) -> None:
        feature = self.features.get(name)
        if feature is None:
            kind = "categorical" if values.dtype == object or values.dtype.kind in "bSU" else (
                "integer" if values.dtype.kind in "iu" else "numeric")  # fmt: skip
            feature = self.features[name] = _Feature(kind)
        feature.rows += len(values)
        if feature.kind == "categorical":
            missing = np.array([v is None for v in values]) if values.dtype == object else np.zeros(len(values), bool)
            feature.missing += int(missing.sum())
            uniques, counts = np.unique(values[~missing].astype(str), return_counts=True)
            feature.counts.update(dict(zip(uniques.tolist(), counts.tolist(), strict=True)))
            return
        numbers = values.astype(np.float64, copy=False)
        finite = np.isfinite(numbers)
        feature.missing += int((~finite).sum())
        feature.moments.add(numbers[finite])
        if feature.kind == "integer" and not feature.too_many:
            uniques, counts = np.unique(values, return_counts=True)
            feature.counts.update(dict(zip(uniques.tolist(), counts.tolist(), strict=True)))
            feature.too_many = len(feature.counts) > INTEGER_CATEGORIES

    def finish(self, source: str = "") -> dict[str, Any]:
        """The profile, as JSON-ready data."""
        return {"format": FORMAT, "rows": self.rows, "source": source,
                "features": {name: self._summary(name, f) for name, f in self.features.items()}}  # fmt: skip

    def _summary(self, name: str, f: _Feature) -> dict[str, Any]:
        base: dict[str, Any] = {"rows": f.rows, "missing": f.missing}
        if f.kind == "categorical" or (f.kind == "integer" and not f.too_many):
            top = f.counts.most_common(MAX_CATEGORIES)
            other = sum(f.counts.values()) - sum(c for _, c in top)
            return {**base, "kind": "categorical", "categories": {str(k): int(c) for k, c in top}, "other": other}
        m = f.moments
        sample = self._kept.get(name, np.empty(0))
        sample = sample[np.isfinite(sample)]
        edges = np.unique(np.quantile(sample, np.linspace(0, 1, BINS + 1)[1:-1])) if sample.size else np.empty(0)
        counts = np.bincount(np.searchsorted(edges, sample, side="right"), minlength=len(edges) + 1)
        std = math.sqrt(m.m2 / m.count) if m.count else 0.0
        return {**base, "kind": "numeric", "min": m.low if m.count else None, "max": m.high if m.count else None,
                "mean": m.mean if m.count else None, "std": std, "edges": edges.tolist(),
                "counts": counts.tolist(), "sample": int(sample.size)}  # fmt: skip


def build(chunks: Iterable[Mapping[str, np.ndarray]], source: str = "", sample: int = SAMPLE) -> dict[str, Any]:
    builder = ProfileBuilder(sample)
    for chunk in chunks:
        builder.add(chunk)
    return builder.finish(source)
