"""Input checks learnt from a reference: range (with a margin), missing values, domains; counted, or refused."""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.drift import build, features
from modelyard.errors import InvalidArgument
from modelyard.protocol.types import InferInput
from modelyard.server.models.limits import InputLimits

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 10, size=(5_000, 3)).astype(np.float32)
COLOUR = np.array(["red", "green"] * 2_500, dtype=object).reshape(-1, 1)
PROFILE = build([features({"x": X, "colour": COLOUR})])
SHAPES = {"x": (-1, 3), "colour": (-1, 1)}


def request(x: list[float], colour: str = "red") -> list[InferInput]:
    return [InferInput("x", "FP32", (1, 3), np.array([x], np.float32)),
            InferInput("colour", "BYTES", (1, 1), np.array([[colour.encode()]], dtype=object))]  # fmt: skip


def test_warn_counts_each_feature_and_rule_and_lets_the_request_in() -> None:
    limits = InputLimits(PROFILE, SHAPES, "warn")
    limits.check(request([5, 5, 5]))
    limits.check(request([10.5, 5, 5]))  # past the maximum, within a tenth of the span: normal
    assert limits.snapshot() == {}
    limits.check(request([5, 12, float("nan")], colour="blue"))
    assert limits.snapshot() == {"x[1]": {"range": 1}, "x[2]": {"missing": 1}, "colour": {"domain": 1}}


def test_reject_names_the_feature_and_the_rule() -> None:
    limits = InputLimits(PROFILE, SHAPES, "reject")
    limits.check(request([1, 2, 3]))
    with pytest.raises(
        InvalidArgument, match=r"input x\[0\]: -4 is outside the reference's range \[-0.99.*rule: range"
    ):
        limits.check(request([-4, 2, 3]))
    with pytest.raises(InvalidArgument, match="input colour: 'blue' is a value the reference never had"):
        limits.check(request([1, 2, 3], colour="blue"))
    assert limits.snapshot() == {"x[0]": {"range": 1}, "colour": {"domain": 1}}


def test_wide_inputs_and_features_the_reference_lacks_are_not_checked() -> None:
    limits = InputLimits(PROFILE, {"x": (-1, 3), "image": (-1, 3, 32, 32)}, "reject")
    assert set(limits.tensors) == {"x"}
    limits.check([InferInput("image", "FP32", (1, 3, 32, 32), np.full((1, 3, 32, 32), 1e9, np.float32))])


def test_warn_counts_many_rows_at_once_off_the_request_path() -> None:
    limits = InputLimits(PROFILE, SHAPES, "warn")
    x = np.full((100, 3), 5.0, np.float32)
    x[:7, 1] = 99.0
    x[3, 2] = np.nan
    colour = np.array([b"red"] * 95 + [b"blue"] * 5, dtype=object).reshape(-1, 1)
    limits.count({"x": x, "colour": colour})
    assert limits.snapshot() == {"x[1]": {"range": 7}, "x[2]": {"missing": 1}, "colour": {"domain": 5}}
