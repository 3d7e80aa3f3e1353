"""Tensors as features: per element, per channel, per row, categorical."""

from __future__ import annotations

import numpy as np

from modelyard.drift import features


def test_each_kind_of_tensor_becomes_the_features_a_shift_would_show_in() -> None:
    rng = np.random.default_rng(0)
    found = features({
        "x": rng.normal(size=(10, 3)).astype(np.float32),  # tabular: a feature per column
        "one": np.arange(10).reshape(10, 1),  # one value per row: the tensor's own name
        "image": np.ones((10, 3, 8, 8), np.float32) * np.arange(3).reshape(1, 3, 1, 1),
        "wide": rng.normal(size=(10, 100)),  # wider than a feature per value makes sense for
        "word": np.array([b"a", b"b"] * 5, dtype=object).reshape(10, 1),
    })  # fmt: skip
    assert {"x[0]", "x[1]", "x[2]", "one", "word"} <= set(found)
    assert np.allclose(found["image.c2.mean"], 2.0)
    assert np.allclose(found["image.c1.std"], 0.0)
    assert {"wide.mean", "wide.std", "wide.min", "wide.max"} <= set(found)
    assert "wide[0]" not in found
    assert found["word"].tolist() == ["a", "b"] * 5
    assert all(len(v) == 10 for v in found.values())
