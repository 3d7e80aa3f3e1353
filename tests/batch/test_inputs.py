"""What a batch job reads: files found from folders and globs, each one's digest and rows, and its parts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pytest

from modelyard.batch import inputs
from modelyard.errors import InvalidArgument
from tests.batch.conftest import features, write_parquet


def test_a_parquet_digest_follows_the_data_not_the_copy(tmp_path: Path) -> None:
    x = features(1000)
    first = inputs.describe(str(write_parquet(tmp_path / "a.parquet", x)))
    shutil.copy(tmp_path / "a.parquet", tmp_path / "copy.parquet")
    assert inputs.describe(str(tmp_path / "copy.parquet")).digest == first.digest
    x[500, 2] += 1.0  # one value of one row
    changed = inputs.describe(str(write_parquet(tmp_path / "b.parquet", x)))
    assert changed.digest != first.digest
    assert (first.rows, first.bytes) == (1000, (tmp_path / "a.parquet").stat().st_size)


def test_text_files_are_digested_whole_and_their_rows_counted(tmp_path: Path) -> None:
    table = pa.table({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    pyarrow.csv.write_csv(table, tmp_path / "t.csv")
    found = inputs.describe(str(tmp_path / "t.csv"))
    assert (found.rows, found.schema.names) == (3, ["a", "b"])
    (tmp_path / "t.csv").write_text((tmp_path / "t.csv").read_text().replace("5", "7"))
    assert inputs.describe(str(tmp_path / "t.csv")).digest != found.digest


def test_parts_gather_row_groups_and_folders_skip_hidden_files(tmp_path: Path) -> None:
    folder = tmp_path / "day"
    folder.mkdir()
    write_parquet(folder / "b.parquet", features(700), row_group=100)
    write_parquet(folder / "a.parquet", features(50))
    (folder / "_SUCCESS").write_text("")
    (folder / ".a.parquet.crc").write_text("")
    (folder / "notes.txt").write_text("")
    found = inputs.expand([str(folder)])
    assert [Path(p).name for p in found] == ["a.parquet", "b.parquet"]
    parts = inputs.parts([inputs.describe(p) for p in found], part_rows=300)
    assert [(Path(p.path).name, p.row_groups, p.rows, p.first_row) for p in parts] == [
        ("a.parquet", (0,), 50, 0),
        ("b.parquet", (0, 1, 2), 300, 0),
        ("b.parquet", (3, 4, 5), 300, 300),
        ("b.parquet", (6,), 100, 600),
    ]
    assert [p.index for p in parts] == [0, 1, 2, 3]
    assert inputs.expand([str(folder / "*.parquet")]) == found
    rows = [b.num_rows for b in inputs.read(parts[2], batch_rows=128)]
    assert rows == [128, 128, 44]


@pytest.mark.parametrize(("given", "text"), [("nothing.parquet", "no such file or folder"),
                                             ("empty", "holds no file to score")])  # fmt: skip
def test_what_cannot_be_read_is_named(tmp_path: Path, given: str, text: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match=text):
        inputs.expand([str(tmp_path / given)])
