"""The labelled checks, pure: paired tests of accuracy, AUC and RMSE, and which of them an output gets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelyard.validation import Policy
from modelyard.validation.labelled import accuracy, auc, delong, judge, mcnemar_p, rmse


def test_mcnemar_is_the_exact_binomial_and_its_normal_form_beyond_a_thousand_rows() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_p(3, 7) == mcnemar_p(7, 3) == pytest.approx(2 * (1 + 10 + 45 + 120) / 1024)
    exact = 2 * sum(math.comb(1000, i) for i in range(471)) / 2**1000  # 470 against 530 discordant rows
    assert mcnemar_p(520, 590) < 0.05 < mcnemar_p(470, 530) == pytest.approx(exact, rel=0.1)


def test_accuracy_passes_a_twin_fails_a_worse_model_and_cannot_say_on_few_rows() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 2000)
    right = np.where(rng.random(2000) < 0.9, truth, (truth + 1) % 3)  # 90 % right
    assert accuracy("y", right, right, truth, 0.01).passed is True
    worse = np.where(rng.random(2000) < 0.1, (right + 1) % 3, right)  # 10 % of its answers changed
    check = accuracy("y", right, worse, truth, 0.01)
    assert check.passed is False
    assert check.interval is not None
    assert check.interval[1] < -0.01
    assert check.extra["p_value"] < 1e-6
    few = accuracy("y", right[:50], right[:50], truth[:50], 0.01)  # no discordant row in 50 bounds little
    assert few.passed is None
    assert few.interval is not None
    assert few.interval[0] < -0.05


def test_delong_matches_the_rank_auc_and_a_bootstrap_of_the_difference() -> None:
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 600)
    a = np.round(truth + rng.normal(0, 1.0, 600), 1)  # rounded: ties, which midranks must share
    b = a + rng.normal(0, 0.7, 600)
    aucs, cov = delong(np.stack([a, b]), truth)
    assert aucs == pytest.approx([sklearn.roc_auc_score(truth, a), sklearn.roc_auc_score(truth, b)])
    diffs = []
    for _ in range(1500):
        rows = rng.integers(0, 600, 600)
        diffs.append(sklearn.roc_auc_score(truth[rows], b[rows]) - sklearn.roc_auc_score(truth[rows], a[rows]))
    assert math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]) == pytest.approx(np.std(diffs), rel=0.15)


def test_auc_fails_a_noisier_score_and_needs_rows_of_each_class() -> None:
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 2, 3000)
    good = truth + rng.normal(0, 0.8, 3000)
    assert auc("p", good, good, truth, 0.01).passed is True
    noisy = auc("p", good, good + rng.normal(0, 2.0, 3000), truth, 0.01)
    assert noisy.passed is False
    assert noisy.extra["candidate"] < noisy.extra["baseline"] - 0.05
    assert auc("p", good[:30], good[:30], np.r_[np.ones(25), np.zeros(5)], 0.01).passed is None


def test_rmse_ratio_by_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(size=2000)
    base = truth + rng.normal(0, 0.5, 2000)
    same = rmse("y", base, base + rng.normal(0, 0.01, 2000), truth, 0.05)
    assert same.passed is True
    assert same.interval is not None
    assert same.interval[0] < 1 < same.interval[1] < 1.05
    doubled = rmse("y", base, truth + 2 * (base - truth), truth, 0.05)
    assert doubled.passed is False
    assert doubled.value == pytest.approx(2.0)


def test_each_output_gets_the_checks_its_kind_allows() -> None:
    policy = Policy()
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 100)
    probabilities = np.stack([1 - truth * 0.8, truth * 0.8 + 0.1], axis=1)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    names = lambda found: [c.name for c in found]  # noqa: E731
    assert names(judge("p", probabilities, probabilities, truth, policy)) == ["p: accuracy change", "p: AUC change"]
    assert names(judge("label", truth, truth, truth, policy)) == ["label: accuracy change"]
    score = truth + rng.normal(size=100)
    assert names(judge("s", score, score, truth, policy)) == ["s: AUC change"]
    target = rng.normal(size=100)
    assert names(judge("y", target[:, None], target[:, None], target, policy)) == ["y: RMSE ratio"]
    assert judge("text", np.array(["a"] * 100, dtype=object), np.array(["a"] * 100, dtype=object), truth, policy) == []
