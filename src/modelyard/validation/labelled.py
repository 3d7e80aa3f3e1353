"""With the truth beside the requests (`validate --data FILE --labels COLUMN`): what each version scores, and
whether the candidate scores worse than the baseline beyond the policy's margin. Pure: arrays in, a `Check` out.

Both versions answered the same rows, so the tests are paired, which makes them far sharper than comparing two
scores with their own intervals: two classifiers at 90 % on 1,000 rows have intervals of about ±1.9 points each,
but if they disagree on 30 rows, the difference is known to within about ±1.1 points.

- accuracy: only the discordant rows carry information (McNemar). The interval of the change bounds each
  discordant share by its Wilson interval at 97.5 % (together at least 95 %), so that no discordant row in 50
  does not read as "no change" (the percentile bootstrap collapses to [0, 0] there);
- AUC: DeLong's variance of the difference of two correlated AUCs (DeLong, DeLong & Clarke-Pearson 1988), in the
  midrank form of Sun & Xu (2014): one sort per version;
- RMSE: a paired bootstrap of the ratio candidate/baseline, the rows resampled together, seeded.

A margin decides, not a p-value (a non-inferiority test): pass when the interval of the change lies within the
margin, fail when it lies wholly beyond it, inconclusive in between; the p-value of "no change" is reported beside.
"""

from __future__ import annotations

import math

import numpy as np

from modelyard.validation.checks import Check, labels, wilson
from modelyard.validation.policy import Policy

Z975 = 2.241403  # each of two one-sided bounds at 97.5 %: both hold with at least 95 %
BOOTSTRAP = 1000
MIN_PER_CLASS = 10  # an AUC needs this many rows of each class


def _verdict(low: float, high: float, limit: float, worse_below: bool) -> bool | None:
    if worse_below:  # a drop is worse (accuracy, AUC): the change must stay above -margin
        return True if low >= limit else False if high < limit else None
    return True if high <= limit else False if low > limit else None  # a rise is worse (RMSE ratio)


def mcnemar_p(right_to_wrong: int, wrong_to_right: int) -> float:
    """The exact two-sided McNemar p-value: under "no change" each discordant row goes either way at 1/2."""
    n, k = right_to_wrong + wrong_to_right, min(right_to_wrong, wrong_to_right)
    if n == 0:
        return 1.0
    if n > 1000:  # the normal approximation with continuity correction, to the binomial's accuracy here
        chi = (abs(right_to_wrong - wrong_to_right) - 1) / math.sqrt(n)
        return min(1.0, math.erfc(max(chi, 0.0) / math.sqrt(2)))
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * float(tail))


def accuracy(name: str, baseline: np.ndarray, candidate: np.ndarray, truth: np.ndarray, margin: float) -> Check:
    """`baseline`, `candidate`, `truth`: a label per row."""
    n = len(truth)
    b_right, c_right = baseline == truth, candidate == truth
    lost, gained = int((b_right & ~c_right).sum()), int((~b_right & c_right).sum())
    lost_low, lost_high = wilson(lost, n, Z975)
    gained_low, gained_high = wilson(gained, n, Z975)
    change = (gained - lost) / n if n else 0.0
    low, high = gained_low - lost_high, gained_high - lost_low
    b_acc, c_acc = float(b_right.mean()) if n else 0.0, float(c_right.mean()) if n else 0.0
    p = mcnemar_p(lost, gained)
    detail = (f"accuracy {c_acc:.4f} against {b_acc:.4f}; {lost} rows the baseline got right and the candidate "
              f"wrong, {gained} the other way; McNemar p={p:.3g}")  # fmt: skip
    return Check(f"{name}: accuracy change", change, -margin, n, _verdict(low, high, -margin, True), (low, high),
                 detail, {"baseline": b_acc, "candidate": c_acc, "p_value": p})  # fmt: skip


def _midrank(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    _, inverse, counts = np.unique(x[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = np.empty(len(x), np.float64)
    ranks[order] = ((ends - counts + 1 + ends) / 2)[inverse]
    return ranks


def delong(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The AUCs of `scores` (versions x rows) and their covariance, for binary `truth`."""
    positive = truth == 1
    m, n = int(positive.sum()), int((~positive).sum())
    aucs, v10, v01 = [], [], []
    for row in scores:
        pos, neg = row[positive], row[~positive]
        both = _midrank(np.concatenate([pos, neg]))
        within_pos, within_neg = _midrank(pos), _midrank(neg)
        aucs.append((both[:m].sum() / m - (m + 1) / 2) / n)
        v10.append((both[:m] - within_pos) / n)  # per positive: the share of negatives it outranks
        v01.append(1 - (both[m:] - within_neg) / m)  # per negative: the share of positives that outrank it
    cov = np.atleast_2d(np.cov(np.array(v10))) / m + np.atleast_2d(np.cov(np.array(v01))) / n
    return np.array(aucs), cov


def auc(name: str, baseline: np.ndarray, candidate: np.ndarray, truth: np.ndarray, margin: float) -> Check:
    """`baseline`, `candidate`: a score per row (the positive class's probability, or any monotone score);
    `truth`: 0 or 1 per row."""
    positives, n = int((truth == 1).sum()), len(truth)
    if min(positives, n - positives) < MIN_PER_CLASS:
        few = f"{positives} positive and {n - positives} negative rows: at least {MIN_PER_CLASS} of each"
        return Check(f"{name}: AUC change", 0.0, -margin, n, None, None, few)
    aucs, cov = delong(np.stack([baseline, candidate]).astype(np.float64), truth)
    change = float(aucs[1] - aucs[0])
    sd = math.sqrt(max(0.0, float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])))
    low, high = change - 1.959964 * sd, change + 1.959964 * sd
    p = math.erfc(abs(change) / sd / math.sqrt(2)) if sd > 0 else float(change == 0)
    detail = f"AUC {aucs[1]:.4f} against {aucs[0]:.4f}; DeLong p={p:.3g}"
    return Check(f"{name}: AUC change", change, -margin, n, _verdict(low, high, -margin, True), (low, high), detail,
                 {"baseline": float(aucs[0]), "candidate": float(aucs[1]), "p_value": p})  # fmt: skip


def rmse(name: str, baseline: np.ndarray, candidate: np.ndarray, truth: np.ndarray, margin: float) -> Check:
    """The ratio of the candidate's RMSE to the baseline's, with a paired bootstrap interval; `margin`: the
    relative rise allowed (0.05: 5 %)."""
    b_sq = (baseline.astype(np.float64) - truth) ** 2
    c_sq = (candidate.astype(np.float64) - truth) ** 2
    n = len(truth)
    b_rmse, c_rmse = math.sqrt(float(b_sq.mean())), math.sqrt(float(c_sq.mean()))
    ratios = []
    rng = np.random.default_rng(0)
    chunk = max(1, min(BOOTSTRAP, 4_000_000 // max(1, n)))  # resamples per pass: memory stays bounded
    for start in range(0, BOOTSTRAP, chunk):
        rows = rng.integers(0, n, (min(chunk, BOOTSTRAP - start), n))
        b, c = b_sq[rows].mean(axis=1), c_sq[rows].mean(axis=1)
        ratios.append(np.sqrt(c / np.where(b > 0, b, np.inf)))
    ratio = c_rmse / b_rmse if b_rmse > 0 else (1.0 if c_rmse == 0 else math.inf)
    low, high = (float(q) for q in np.quantile(np.concatenate(ratios), [0.025, 0.975]))
    if b_rmse == 0:
        low = high = ratio
    detail = f"RMSE {c_rmse:.4g} against {b_rmse:.4g}"
    return Check(f"{name}: RMSE ratio", ratio, 1 + margin, n, _verdict(low, high, 1 + margin, False), (low, high),
                 detail, {"baseline": b_rmse, "candidate": c_rmse})  # fmt: skip


def judge(name: str, baseline: np.ndarray, candidate: np.ndarray, truth: np.ndarray, policy: Policy) -> list[Check]:
    """The checks that apply to one output (a row per request) against the truth: labels (integers, or the argmax
    of probability rows) get accuracy, and AUC of the positive class when the truth is binary; one score per row
    gets AUC against a binary truth, RMSE against any other number. Nothing: the output cannot be read so."""
    rows = len(truth)
    if baseline.shape != candidate.shape or len(baseline) != rows:
        return []
    binary = truth.dtype.kind in "iubf" and bool(np.isin(truth, (0, 1)).all())
    found = []
    kinds = labels(baseline), labels(candidate)
    if kinds[0] is not None and kinds[1] is not None:
        if truth.dtype.kind in "iub" or (truth.dtype.kind == "f" and bool((truth == np.round(truth)).all())):
            found.append(accuracy(name, kinds[0], kinds[1], truth.astype(np.int64), policy.max_accuracy_drop))
        if binary and baseline.ndim == 2 and baseline.shape[1] == 2 and baseline.dtype.kind == "f":
            found.append(auc(name, baseline[:, 1], candidate[:, 1], truth, policy.max_auc_drop))
        return found
    if baseline.dtype.kind == "f" and baseline.reshape(rows, -1).shape[1] == 1 and truth.dtype.kind in "iubf":
        b, c = baseline.reshape(rows), candidate.reshape(rows)
        if binary:
            return [auc(name, b, c, truth, policy.max_auc_drop)]
        return [rmse(name, b, c, truth.astype(np.float64), policy.max_rmse_increase)]
    return []
