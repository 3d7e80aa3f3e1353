"""What a model's inputs and outputs are as features, a value per row: the unit every profile and drift test works
on. Pure: arrays in, named 1-D arrays out.

- a tensor with a few values per row (at most `ELEMENTS`, a tabular model's `x` of 32 columns) is a feature per
  element, `x[0]`, `x[1]`, ...: a shift in one column must not drown in the others;
- an image-like tensor (rows x channels x ...) is each channel's mean and standard deviation per row, `x.c0.mean`:
  brightness and contrast, what moves when cameras or lighting change;
- any other wider tensor is its per-row mean, standard deviation, minimum and maximum;
- a BYTES tensor is a categorical feature per element (its values decoded).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

ELEMENTS = 64  # a tensor with at most this many values per row is a feature per value


def features(arrays: Mapping[str, np.ndarray], prefix: str = "") -> dict[str, np.ndarray]:
    """`arrays`: tensors by name, the first axis rows (all with the same number of rows)."""
    found: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        label = prefix + name
        if array.ndim == 0:
            continue
        rows = len(array)
        if array.dtype == object or array.dtype.kind in "SU":
            flat = array.reshape(rows, -1)
            for j in range(min(flat.shape[1], ELEMENTS)):
                found[_element(label, j, flat.shape[1])] = np.array([text(v) for v in flat[:, j]], dtype=object)
            continue
        if array[0].size <= ELEMENTS:
            flat = array.reshape(rows, -1)
            for j in range(flat.shape[1]):
                found[_element(label, j, flat.shape[1])] = flat[:, j]
            continue
        values = array.astype(np.float64, copy=False)
        if array.ndim >= 3 and array.shape[1] <= 8:  # rows x channels x ...: an image's channels
            per_channel = values.reshape(rows, array.shape[1], -1)
            for c in range(array.shape[1]):
                found[f"{label}.c{c}.mean"] = per_channel[:, c].mean(axis=1)
                found[f"{label}.c{c}.std"] = per_channel[:, c].std(axis=1)
            continue
        flat = values.reshape(rows, -1)
        for stat in ("mean", "std", "min", "max"):
            found[f"{label}.{stat}"] = getattr(flat, stat)(axis=1)
    return found


def _element(label: str, j: int, width: int) -> str:
    return label if width == 1 else f"{label}[{j}]"


def text(value: object) -> str:
    """A BYTES element as text (undecodable bytes replaced), anything else as `str` gives it."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
