"""Input checks learnt from a version's reference profile: each feature's range (widened by a tenth of its span: a
reference's extremes are a sample's, and traffic just past them is normal), whether it may be missing, and, for
text values whose every value the reference counted, its domain. Compiled once per loaded version into arrays, so
a request pays a few vectorized comparisons per input; only a request that breaks a rule is looked at element by
element, to name the feature and the rule.

`warn` counts each violation by feature and rule (`modelyard_input_violations_total`), off the request path: the
drift tally's thread counts what came, thousands of rows in one pass (checking each request on its way cost 30 % of
W1's throughput at c=64: a dozen numpy calls on a row of 32 values). `reject` answers 400 naming the first violation,
so it checks each request on its way, at that cost. The datatype and the shape are the signature's to check
(validation.py), before these.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.drift.features import ELEMENTS, text
from modelyard.errors import InvalidArgument
from modelyard.protocol.types import InferInput

MARGIN = 0.1  # of a feature's reference span, on each side
MODES = ("off", "warn", "reject")


@dataclass
class _Tensor:
    names: list[str]  # the feature of each element, in the row's order
    low: np.ndarray
    high: np.ndarray
    nan_ok: np.ndarray  # bool per element: the reference had missing values there
    domains: dict[int, frozenset[str]] = field(default_factory=dict)  # element -> every value the reference had


class InputLimits:
    def __init__(self, profile: Mapping[str, Any], inputs: Mapping[str, tuple[int, ...]], mode: str) -> None:
        """`inputs`: each input's shape from the signature; only inputs of a few values a row are checked."""
        self.mode = mode
        self.violations: Counter[tuple[str, str]] = Counter()  # (feature, rule) -> count
        self.tensors: dict[str, _Tensor] = {}
        specs = profile.get("features", {})
        for name, shape in inputs.items():
            width = math.prod(d for d in shape[1:]) if all(d > 0 for d in shape[1:]) else 0
            if width == 0 or width > ELEMENTS:
                continue  # unknown width, or summarised (an image): no per-element rule
            names = [name if width == 1 else f"{name}[{j}]" for j in range(width)]
            if not all(n in specs for n in names):
                continue
            self.tensors[name] = _compile(names, [specs[n] for n in names])

    def check(self, inputs: list[InferInput]) -> None:
        """Count what breaks a rule; with `reject`, refuse the request naming the first."""
        found: list[tuple[str, str, str]] = []
        for item in inputs:
            limits = self.tensors.get(item.name)
            if limits is None or (item.data.dtype == object and not limits.domains):
                continue
            rows = item.data.reshape(len(item.data) if item.data.ndim else 1, -1)
            if rows.dtype == object:
                found += _outside_domain(limits, rows)
                continue
            values = rows.astype(np.float64, copy=False)
            nan = np.isnan(values)
            out = (values < limits.low) | (values > limits.high)
            bad_nan = nan & ~limits.nan_ok
            if out.any() or bad_nan.any():
                found += _named(limits, values, out, bad_nan)
        for feature, rule, _ in found:
            self.violations[(feature, rule)] += 1
        if found and self.mode == "reject":
            feature, rule, said = found[0]
            raise InvalidArgument(f"input {feature}: {said} (rule: {rule}; serve --input-checks warn lets it in)")

    def count(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Off the request path: the rows of many requests joined, each row breaking a rule counted once per rule."""
        for name, limits in self.tensors.items():
            array = arrays.get(name)
            if array is None or len(array) == 0:
                continue
            rows = array.reshape(len(array), -1)
            if rows.dtype == object:
                for j, domain in limits.domains.items():
                    outside = int(sum(text(v) not in domain for v in rows[:, j]))
                    if outside:
                        self.violations[(limits.names[j], "domain")] += outside
                continue
            nan = np.isnan(rows) if rows.dtype.kind == "f" else np.zeros(rows.shape, bool)
            for rule, broken in (
                ("range", (rows < limits.low) | (rows > limits.high)),
                ("missing", nan & ~limits.nan_ok),
            ):
                for k in np.flatnonzero(broken.any(axis=0)).tolist():
                    self.violations[(limits.names[k], rule)] += int(broken[:, k].sum())

    def snapshot(self) -> dict[str, dict[str, int]]:
        """feature -> rule -> count, which adds up across workers."""
        out: dict[str, dict[str, int]] = {}
        for (feature, rule), count in self.violations.items():
            out.setdefault(feature, {})[rule] = count
        return out


def _compile(names: list[str], specs: list[Mapping[str, Any]]) -> _Tensor:
    low, high, nan_ok = [], [], []
    domains: dict[int, frozenset[str]] = {}
    for j, spec in enumerate(specs):
        nan_ok.append(spec.get("missing", 0) > 0)
        if spec.get("kind") == "numeric" and spec.get("min") is not None:
            span = spec["max"] - spec["min"]
            low.append(spec["min"] - MARGIN * span)
            high.append(spec["max"] + MARGIN * span)
            continue
        low.append(-math.inf)
        high.append(math.inf)
        if spec.get("kind") == "categorical" and spec.get("other", 1) == 0:
            domains[j] = frozenset(spec["categories"])
    return _Tensor(names, np.array(low), np.array(high), np.array(nan_ok, bool), domains)


def _named(limits: _Tensor, values: np.ndarray, out: np.ndarray, bad_nan: np.ndarray) -> list[tuple[str, str, str]]:
    found = []
    for j in np.flatnonzero((out | bad_nan).any(axis=0)):
        name = limits.names[j]
        if bad_nan[:, j].any():
            found.append((name, "missing", "a missing value (NaN), which the reference never had"))
        if out[:, j].any():
            value = values[out[:, j], j][0]
            found.append((name, "range", f"{value:.6g} is outside the reference's range "
                                         f"[{limits.low[j]:.6g}, {limits.high[j]:.6g}]"))  # fmt: skip
    return found


def _outside_domain(limits: _Tensor, rows: np.ndarray) -> list[tuple[str, str, str]]:
    found = []
    for j, domain in limits.domains.items():
        for value in rows[:, j]:
            shown = text(value)
            if shown not in domain:
                found.append((limits.names[j], "domain", f"{shown!r} is a value the reference never had"))
                break
    return found
