"""The gate's checks and verdict, pure: fixed arrays in, the decision out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelyard.errors import InvalidArgument
from modelyard.validation import Policy, decide
from modelyard.validation.checks import (
    flip_rate,
    labels,
    latency,
    memory,
    new_errors,
    new_nonfinite,
    numeric,
    throughput,
    under_load,
    wilson,
)
from modelyard.validation.replay import _kinder

POLICY = Policy()


def test_wilson_bounds_a_rate_even_when_nothing_flipped() -> None:
    low, high = wilson(0, 100)
    assert low == 0.0
    assert high == pytest.approx(0.037, abs=0.001)  # "no flip in 100" bounds the rate only at 3.7 %
    assert wilson(0, 400)[1] < 0.01 < wilson(0, 300)[1]  # about 384 requests decide a 1 % limit
    low, high = wilson(50, 100)
    assert low < 0.5 < high


def test_flip_rate_passes_fails_or_cannot_say() -> None:
    same = np.zeros(500, int)
    assert flip_rate("y", same, same, POLICY).passed is True
    few = np.zeros(100, int)
    undecided = flip_rate("y", few, few, POLICY)
    assert undecided.passed is None
    assert "requests with no flip decide" in undecided.detail
    flipped = same.copy()
    flipped[:20] = 1
    check = flip_rate("y", same, flipped, POLICY)
    assert check.passed is False
    assert check.extra["flips"] == {"0->1": 20}  # the per-class flip matrix


def test_labels_are_integers_or_the_argmax_of_probability_rows() -> None:
    np.testing.assert_array_equal(labels(np.array([[2], [0]])), [2, 0])
    np.testing.assert_array_equal(labels(np.array([[0.2, 0.8], [0.9, 0.1]], np.float32)), [1, 0])
    assert labels(np.array([[3.5, -1.0]], np.float32)) is None  # regression outputs, not probabilities


def test_numeric_outputs_are_judged_against_the_measured_noise_floor() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 2))
    noise = np.full(400, 1e-6)  # the baseline differs from itself by up to 1e-6 (batched against alone)
    assert numeric("y", base, base + 1e-6, noise, POLICY).passed is True  # within 2 x the noise floor
    assert numeric("y", base, base + 1e-3, noise, POLICY).passed is False
    loose = Policy(atol=1e-2)
    assert numeric("y", base, base + 1e-3, noise, loose).passed is True


def test_new_nan_errors_and_latency() -> None:
    base = np.ones((4, 1), np.float32)
    worse = base.copy()
    worse[0] = np.nan
    assert new_nonfinite("y", base, worse, POLICY).value == 1
    assert new_errors(["", "", "bad"], ["", "Error: x", "bad"], POLICY).value == 1  # the third failed for both
    assert latency([0.001] * 100, [0.0012] * 100, POLICY).passed is True
    assert latency([0.001] * 100, [0.002] * 100, POLICY).passed is False


def test_load_throughput_and_memory_checks() -> None:
    assert under_load([1.1, 0.9, 3.0, 1.0, 1.2], (0.2, 0.2), (1.0, 1.1), 5000, POLICY).value == 1.1  # the median
    assert under_load([1.6, 1.7, 1.4, 2.0, 1.8], (0.2, 0.3), (1.0, 1.7), 5000, POLICY).passed is False
    assert throughput(1000, 800, POLICY).passed is True
    assert throughput(1000, 500, POLICY).passed is False
    small = memory(3 << 20, 9 << 20, POLICY)  # under the floor: the allocator's noise, not compared
    assert (small.passed, small.value) == (True, 1.0)
    assert memory(100 << 20, 150 << 20, POLICY).passed is True
    assert memory(100 << 20, 250 << 20, POLICY).passed is False


def test_a_timing_check_fails_only_when_both_measurements_do() -> None:
    slow, fine = latency([0.001] * 100, [0.002] * 100, POLICY), latency([0.001] * 100, [0.0011] * 100, POLICY)
    kept = _kinder(slow, fine)
    assert (kept.passed, kept.extra["measured"], kept.extra["first"]) == (True, 2, slow.value)
    assert _kinder(slow, latency([0.001] * 100, [0.003] * 100, POLICY)).value == slow.value
    assert _kinder(throughput(1000, 500, POLICY), throughput(1000, 900, POLICY)).passed is True


def test_the_verdict_fails_on_any_failure_and_is_inconclusive_on_any_doubt() -> None:
    ok = flip_rate("y", np.zeros(500, int), np.zeros(500, int), POLICY)
    unsure = flip_rate("y", np.zeros(50, int), np.zeros(50, int), POLICY)
    bad = new_errors([""], ["boom"], POLICY)
    assert decide([ok]).outcome == "pass"
    assert decide([ok, unsure]).outcome == "inconclusive"
    assert decide([ok, unsure, bad]).outcome == "fail"
    assert decide([ok, bad]).exit_code == 10
    assert decide([unsure]).exit_code == 11
    assert decide([ok, bad]).reasons == [bad.line]


def test_a_policy_file_changes_bounds_and_refuses_an_unknown_check(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("max_flip_rate: 0.05\nmin_requests: 10\n")
    assert Policy.load(tmp_path / "p.yaml").max_flip_rate == 0.05
    (tmp_path / "bad.yaml").write_text("max_flip: 0.05\n")
    with pytest.raises(InvalidArgument, match="max_flip: Extra inputs are not permitted"):
        Policy.load(tmp_path / "bad.yaml")
