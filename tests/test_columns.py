"""The one rule for a table's columns as a model's inputs (modelyard.columns), on real pyarrow tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from modelyard import columns
from modelyard.errors import InvalidArgument
from modelyard.signature import TensorSpec

X4 = TensorSpec(name="x", datatype="FP32", shape=(-1, 4))


def _inputs(table: pa.Table, *specs: TensorSpec, **options: object) -> dict[str, np.ndarray]:
    feeds = columns.plan(table.schema, specs, **options)  # type: ignore[arg-type]
    return columns.gather(table, feeds, specs)


def test_each_rule_in_order() -> None:
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    listed = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 4)
    by_name = _inputs(pa.table({"x": listed, "x_0": [9.0] * 3}), X4)["x"]  # rule 2 before rule 3
    np.testing.assert_array_equal(by_name, x)
    assert by_name.dtype == np.float32
    # rule 3: NAME_0.. in index order, whatever the columns' order in the file
    shuffled = pa.table({f"x_{i}": x[:, i] for i in (2, 0, 3, 1)})
    np.testing.assert_array_equal(_inputs(shuffled, X4)["x"], x)
    # rule 4: one input, every column but the excluded ones
    table = pa.table({"id": [1, 2, 3], **{c: x[:, i] for i, c in enumerate("abcd")}})
    np.testing.assert_array_equal(_inputs(table, X4, exclude=["id"])["x"], x)
    # rule 1: --map names the column
    mapped = pa.table({"features": listed, "x": [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(_inputs(mapped, X4, mapping={"features": "x"})["x"], x)


def test_tensors_get_their_shape_back_and_scalars_their_column() -> None:
    images = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32)
    flat = pa.table({"img": pa.FixedSizeListArray.from_arrays(pa.array(images.ravel()), 48)})
    spec = TensorSpec(name="img", datatype="FP32", shape=(-1, 3, 4, 4))
    np.testing.assert_array_equal(_inputs(flat, spec)["img"], images)
    nested = pa.table({"img": pa.array(images.tolist())})  # lists of lists, of one length per level
    np.testing.assert_array_equal(_inputs(nested, spec)["img"], images)
    scalar = pa.table({"age": [30, 41]})
    assert _inputs(scalar, TensorSpec(name="age", datatype="INT64", shape=(-1, 1)))["age"].shape == (2, 1)
    assert _inputs(scalar, TensorSpec(name="age", datatype="FP64", shape=(-1,)))["age"].shape == (2,)


@pytest.mark.parametrize(
    ("table", "options", "text"),
    [
        (pa.table({"a": [1.0], "b": [2.0]}), {}, "a, b give 2 values per row; the model's input 'x' takes 4"),
        (pa.table({"x": pa.array([[1.0, 2.0]], pa.list_(pa.float32(), 2))}), {}, "x gives 2 values per row"),
        (pa.table({"x": ["a"]}), {}, "column 'x' holds string; the model's input 'x' is FP32"),
        (pa.table({"y": [1.0]}), {"mapping": {"y": "z"}}, "--map: the model has no input 'z'"),
        (pa.table({"y": [1.0]}), {"mapping": {"q": "x"}}, "no column 'q' (--map q=x)"),
        (pa.table({"id": [1]}), {"exclude": ["id"]}, "no column for the model's input 'x'"),
    ],
)
def test_refused_on_the_schema(table: pa.Table, options: dict[str, object], text: str) -> None:
    with pytest.raises(InvalidArgument, match=text.replace("(", r"\(").replace(")", r"\)")):
        columns.plan(table.schema, [X4], where="f.parquet", **options)  # type: ignore[arg-type]


def test_ragged_lists_are_refused_as_they_are_read() -> None:
    ragged = pa.table({"x": pa.array([[1.0, 2.0, 3.0, 4.0], [1.0]])})
    feeds = columns.plan(ragged.schema, [X4])
    with pytest.raises(InvalidArgument, match="lists of 1 to 4 values"):
        columns.gather(ragged, feeds, [X4])


def test_missing_marks_rows_with_a_null_input() -> None:
    table = pa.table({"x_0": [1.0, None, 3.0], "x_1": [1.0, 2.0, None], "id": [None, 2, 3]})
    spec = TensorSpec(name="x", datatype="FP32", shape=(-1, 2))
    feeds = columns.plan(table.schema, [spec], exclude=["id"])
    assert columns.missing(table, feeds).tolist() == [False, True, True]


def test_output_columns_keep_a_tensor_whole_or_flat() -> None:
    y = np.arange(6, dtype=np.float32).reshape(3, 2)
    nested = columns.output_columns({"y": y, "label": np.array([b"a", b"b", b"c"], dtype=object)}, flat=False)
    assert nested["y"].type == pa.list_(pa.float32(), 2)
    assert nested["label"].to_pylist() == ["a", "b", "c"]
    flat = columns.output_columns({"y": y}, flat=True)
    assert list(flat) == ["y_0", "y_1"]
    assert flat["y_1"].to_pylist() == [1.0, 3.0, 5.0]
    # what is written flat reads back by rule 3
    back = _inputs(pa.table(flat), TensorSpec(name="y", datatype="FP32", shape=(-1, 2)))["y"]
    np.testing.assert_array_equal(back, y)
