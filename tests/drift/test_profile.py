"""Reference profiles: one streaming pass, exact moments, a bounded sample, equal-probability bins."""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.drift import ProfileBuilder, build
from modelyard.drift.profile import BINS


def chunks(values: dict[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
    rows = len(next(iter(values.values())))
    return [{k: v[i : i + size] for k, v in values.items()} for i in range(0, rows, size)]


def test_chunked_moments_are_exact_and_the_sample_stays_bounded() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 2.0, 50_000)
    x[::100] = np.nan
    profile = build(chunks({"x": x, "n": rng.integers(0, 3, 50_000)}, 7_001), sample=1000)
    spec = profile["features"]["x"]
    finite = x[np.isfinite(x)]
    assert spec["mean"] == pytest.approx(finite.mean(), rel=1e-12)
    assert spec["std"] == pytest.approx(finite.std(), rel=1e-9)
    assert (spec["rows"], spec["missing"], profile["rows"]) == (50_000, 500, 50_000)
    assert spec["sample"] <= 1000
    assert len(spec["counts"]) == BINS
    assert max(spec["counts"]) - min(spec["counts"]) <= 0.1 * spec["sample"]  # equal-probability bins
    few = profile["features"]["n"]  # an integer with three values: categorical, counted exactly
    assert few["kind"] == "categorical"
    assert sum(few["categories"].values()) == 50_000


def test_the_sample_is_uniform_over_the_whole_stream() -> None:
    """A stream whose second half differs: the bottom-k sample must hold both halves alike, not the first rows."""
    builder = ProfileBuilder(sample=2000, seed=3)
    builder.add({"x": np.zeros(100_000)})
    builder.add({"x": np.ones(100_000)})
    share_of_ones = float(np.mean(builder._kept["x"]))
    assert 0.45 < share_of_ones < 0.55
    many = build([{"i": np.arange(1000)}])
    assert many["features"]["i"]["kind"] == "numeric"  # an integer of many values is a number
