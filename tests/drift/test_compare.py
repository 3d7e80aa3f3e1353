"""Drift verdicts that mean the same at 40 rows and at a million: significant and larger than the floor, or not
enough data; never an alarm on the same distribution."""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.drift import build, compare, features
from modelyard.drift.compare import Window, benjamini_hochberg

RNG = np.random.default_rng(7)
REFERENCE = build([features({"x": RNG.normal(size=(200_000, 10)),
                             "s": RNG.choice(np.array(["a", "b", "c"], dtype=object), (200_000, 1))})])  # fmt: skip


def window(rows: int, seed: int, shift: float = 0.0, weights: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)
           ) -> dict[str, np.ndarray]:  # fmt: skip
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 10))
    x[:, 0] += shift
    s = rng.choice(np.array(["a", "b", "c"], dtype=object), (rows, 1), p=list(weights))
    return features({"x": x, "s": s})


@pytest.mark.parametrize("rows", [1_000, 100_000])
def test_the_same_distribution_does_not_drift_and_enough_rows_say_so(rows: int) -> None:
    verdicts = [f.drift for seed in range(5) for f in compare(REFERENCE, window(rows, seed))]
    assert set(verdicts) == {False}


def test_on_forty_rows_of_the_same_data_the_answer_is_not_enough_data_and_alarms_are_rare() -> None:
    """A hundred windows of 40 rows, 11 features each: a false alarm in at most a few (1 % is the design's rate,
    2 % measured over 300: docs/measurements.md), and "not enough data" where 40 rows cannot show the floor."""
    windows = [compare(REFERENCE, window(40, 100 + seed)) for seed in range(100)]
    assert sum(any(f.drift for f in found) for found in windows) <= 4
    assert all(any(f.drift is None for f in found) for found in windows)


def test_a_large_shift_shows_at_40_rows_and_a_trivial_one_is_not_drift_at_a_million() -> None:
    small = {f.name: f for f in compare(REFERENCE, window(40, 1, shift=1.5))}
    assert small["x[0]"].drift is True
    assert small["x[1]"].drift is None
    assert small["x[1]"].mde is not None
    assert small["x[1]"].mde > 0.1
    huge = {f.name: f for f in compare(REFERENCE, window(1_000_000, 2, shift=0.15))}
    assert huge["x[0]"].p_value is not None
    assert huge["x[0]"].p_value < 1e-6  # significant, as any p-value test would flag at this size ...
    assert huge["x[0]"].drift is False  # ... but smaller than the practical floor: not drift
    moved = {f.name: f for f in compare(REFERENCE, window(5_000, 3, weights=(0.6, 0.2, 0.2)))}
    assert moved["s"].drift is True
    assert moved["x[0]"].drift is False


def test_unseen_categories_count_against_the_reference() -> None:
    current = {"s": np.array(["a", "b", "z", "z"] * 500, dtype=object)}
    (found,) = compare(REFERENCE, current)
    assert found.drift is True
    assert "1000 rows of values the reference did not have" in found.detail


def test_a_window_filled_in_chunks_or_merged_judges_as_one() -> None:
    whole = window(3_000, 4, shift=0.5)
    one = Window(REFERENCE).add(whole).judge()
    parts = [Window(REFERENCE).add({k: v[i : i + 700] for k, v in whole.items()}) for i in range(0, 3_000, 700)]
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    assert [(f.name, f.statistic, f.drift) for f in merged.judge()] == [(f.name, f.statistic, f.drift) for f in one]


def test_benjamini_hochberg_matches_the_textbook_example() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_a_tensor_binned_at_once_counts_as_feature_by_feature() -> None:
    x = np.random.default_rng(8).normal(size=(20_000, 10))
    x[::97, 3] = np.nan
    x[5, 4] = np.inf
    one_by_one = Window(REFERENCE).add(features({"x": x}))
    at_once = Window(REFERENCE).add_matrix([f"x[{j}]" for j in range(10)], x)
    ours, theirs = at_once.snapshot(), one_by_one.snapshot()
    assert {k: (v["counts"], v["rows"], v["missing"]) for k, v in ours.items()} == {
        k: (v["counts"], v["rows"], v["missing"]) for k, v in theirs.items()
    }
    assert all(ours[k]["total"] == pytest.approx(theirs[k]["total"]) for k in ours)
