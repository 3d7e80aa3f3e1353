"""Arrays from .npy/.npz/.json/.csv/.parquet as a model's inputs, and outputs back into such files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet
import pytest

from modelyard.datafiles import read_inputs, write_outputs
from modelyard.errors import InvalidArgument

ROWS = np.arange(6, dtype=np.float64).reshape(3, 2)


def test_one_input_from_each_kind_of_file_is_the_same_array(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", ROWS)
    (tmp_path / "x.json").write_bytes(orjson.dumps(ROWS.tolist()))
    table = pa.table({"a": ROWS[:, 0], "b": ROWS[:, 1]})
    pyarrow.csv.write_csv(table, tmp_path / "x.csv")
    pyarrow.parquet.write_table(table, tmp_path / "x.parquet")
    for suffix in ("npy", "json", "csv", "parquet"):
        (x,) = read_inputs([f"x={tmp_path / f'x.{suffix}'}"], {"x": "FP32"}).values()
        assert x.dtype == np.float32, suffix  # cast to what the model declares
        np.testing.assert_array_equal(x, ROWS, err_msg=suffix)
    # a table without a name, for a model of one input: its columns side by side
    np.testing.assert_array_equal(read_inputs([str(tmp_path / "x.csv")], {"x": "FP64"})["x"], ROWS)


def test_several_inputs_by_name_from_npz_json_and_a_table(tmp_path: Path) -> None:
    datatypes = {"age": "INT64", "city": "BYTES"}
    np.savez(tmp_path / "in.npz", age=np.array([[30], [41]]), city=np.array([["x"], ["y"]]))
    (tmp_path / "in.json").write_bytes(orjson.dumps({"age": [[30], [41]], "city": [["x"], ["y"]]}))
    pyarrow.parquet.write_table(pa.table({"age": [30, 41], "city": ["x", "y"], "id": [1, 2]}), tmp_path / "in.pq")
    for name in ("in.npz", "in.json", "in.pq"):
        arrays = read_inputs([str(tmp_path / name)], datatypes)
        np.testing.assert_array_equal(arrays["age"], [[30], [41]], err_msg=name)
        assert arrays["city"].tolist() == [[b"x"], [b"y"]], name  # a column per input, shape (rows, 1)


@pytest.mark.parametrize(
    ("specs", "text"),
    [
        ([], "give the model's inputs (x) as NAME=FILE"),
        (["y={dir}/x.npy"], "the model has no input 'y' (its inputs: x)"),
        (["x={dir}/missing.npy"], "no such file"),
        (["x={dir}/x.txt"], "read .npy, .json, .csv or .parquet"),
        (["x={dir}/bad.json"], "not JSON"),
        (["x={dir}/words.json"], "cannot read it as FP32"),
    ],
)
def test_bad_inputs_name_the_option(tmp_path: Path, specs: list[str], text: str) -> None:
    np.save(tmp_path / "x.npy", ROWS)
    (tmp_path / "x.txt").write_text("1 2")
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "words.json").write_text('[["a", "b"]]')
    with pytest.raises(InvalidArgument, match=text.replace("(", r"\(").replace(")", r"\)")):
        read_inputs([s.format(dir=tmp_path) for s in specs], {"x": "FP32"})


def test_outputs_written_in_each_format_read_back(tmp_path: Path) -> None:
    outputs = {"y": ROWS.astype(np.float32), "label": np.array([b"a", b"b", b"c"], dtype=object)}
    write_outputs(outputs, str(tmp_path / "o.npz"))
    with np.load(tmp_path / "o.npz", allow_pickle=True) as saved:
        np.testing.assert_array_equal(saved["y"], outputs["y"])
    write_outputs(outputs, str(tmp_path / "o.json"))
    assert orjson.loads((tmp_path / "o.json").read_bytes())["label"] == ["a", "b", "c"]
    write_outputs(outputs, str(tmp_path / "o.parquet"))
    assert pyarrow.parquet.read_table(tmp_path / "o.parquet").column_names == ["y_0", "y_1", "label"]
    write_outputs({"y": ROWS}, str(tmp_path / "o.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), ROWS)
    with pytest.raises(InvalidArgument, match="holds one array"):
        write_outputs(outputs, str(tmp_path / "two.npy"))
