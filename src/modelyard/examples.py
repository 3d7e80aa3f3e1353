"""Example models the project makes itself (no downloads): the benchmark workloads and the demo's models.

W1 `tabular`: an MLP 32 → 256 → 256 → 1 taking FP32 rows. W2 `image`: a small CNN on 3×64×64 images giving 10 logits.
Both are built with `onnx.helper` from seeded random weights so every machine gets the same bytes. The scikit-learn
pipeline needs the `sklearn` extra.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np


def _save(graph: object, path: Path | str) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])  # type: ignore[arg-type]
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def mlp_onnx(path: Path | str, sizes: tuple[int, ...] = (32, 256, 256, 1), seed: int = 0) -> Path:
    """Dense layers with ReLU between them; input `x` [-1, sizes[0]] FP32, output `y` [-1, sizes[-1]]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    current = "x"
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = np.zeros(n_out, dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        last = i == len(sizes) - 2
        out = "y" if last else f"h{i}"
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [out if last else f"g{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"g{i}"], [out]))
        current = out
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", sizes[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", sizes[-1]])],
        inits,
    )
    return _save(graph, path)


def cnn_onnx(path: Path | str, seed: int = 0) -> Path:
    """Conv(3→16, 3×3) → ReLU → MaxPool 2 → Conv(16→32, 3×3) → ReLU → global average pool → Gemm 32 → 10."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def weight(name: str, *shape: int) -> Any:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name)

    inits = [
        weight("c1w", 16, 3, 3, 3),
        numpy_helper.from_array(np.zeros(16, np.float32), "c1b"),
        weight("c2w", 32, 16, 3, 3),
        numpy_helper.from_array(np.zeros(32, np.float32), "c2b"),
        weight("fw", 32, 10),
        numpy_helper.from_array(np.zeros(10, np.float32), "fb"),
        numpy_helper.from_array(np.array([-1, 32], np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "c1w", "c1b"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"]),
        helper.make_node("Reshape", ["gap", "flat"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    return _save(graph, path)


def mixed_onnx(path: Path | str) -> Path:
    """Three inputs and outputs of three datatypes: `a` FP32 [-1, 4] → `total` (row sums), `ids` INT64 [-1, 2] →
    `doubled`, `names` BYTES [-1, 1] → `echo` (unchanged). For protocol tests: one model covers every codec path."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceSum", ["a", "axes"], ["total"], keepdims=0),
        helper.make_node("Mul", ["ids", "two"], ["doubled"]),
        helper.make_node("Identity", ["names"], ["echo"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mixed",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 2]),
            helper.make_tensor_value_info("names", TensorProto.STRING, ["batch", 1]),
        ],
        [
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch"]),
            helper.make_tensor_value_info("doubled", TensorProto.INT64, ["batch", 2]),
            helper.make_tensor_value_info("echo", TensorProto.STRING, ["batch", 1]),
        ],
        [
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
            numpy_helper.from_array(np.array(2, np.int64), "two"),
        ],
    )
    return _save(graph, path)


def rows_parquet(path: Path | str, rows: int = 100_000, features: int = 32, missing: int = 0, seed: int = 0,
                 row_group: int = 25_000) -> Path:  # fmt: skip
    """A Parquet file of W1's inputs, to score in batch: `id`, and `x` as a list of `features` FP32 values per row;
    `missing` rows have no `x` (a batch job puts them in its errors/)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    mask = np.zeros(rows, dtype=bool)
    mask[rng.choice(rows, size=min(missing, rows), replace=False)] = True
    column = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), features, mask=pa.array(mask) if missing else None)
    pq.write_table(pa.table({"id": np.arange(rows), "x": column}), path, row_group_size=row_group)
    return Path(path)


def churn_data(n: int = 400, features: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic tabular classification set: label 1 when a fixed linear score is positive, with noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    score = x @ rng.standard_normal(features) + 0.3 * rng.standard_normal(n)
    return x, (score > 0).astype(np.int64)


def sklearn_pipeline(path: Path | str, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A StandardScaler + LogisticRegression pipeline saved with joblib; returns the path and an input example."""
    try:
        import joblib
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        from modelyard.errors import MissingDependency

        raise MissingDependency.for_extra("scikit-learn", "sklearn") from None
    x, y = churn_data(seed=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x, y)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path, x[:4].astype(np.float64)
