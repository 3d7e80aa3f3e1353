"""The job's input files, what each holds (digest, rows, schema), the parts the job is cut into, and a part's rows
read a batch at a time.

A part is a unit of work that is done or not: a run of a Parquet file's row groups (about PART_ROWS rows), or a
whole file of another format. Parts come from the files' metadata alone, so the same inputs give the same parts on
every run, and a resumed job redoes exactly the parts it had not finished.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa

from modelyard.datafiles import open_for_arrow
from modelyard.errors import InvalidArgument

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".npy": "npy", ".npz": "npz"}  # fmt: skip
PART_ROWS = 1 << 20  # rows of a Parquet part, at least: a killed job redoes at most one part per engine slot
_BLOCK = 8 << 20
READ_ROWS, READ_BYTES = 65_536, 8 << 20  # a Parquet read: at most this many rows, or bytes (decoded)


@dataclass(frozen=True)
class InputFile:
    path: str  # as the user named it, or found in a folder they named
    format: str
    bytes: int
    digest: str  # sha256 of the content
    rows: int | None  # None: not known before reading (a CSV with quoted line breaks counts later)
    schema: pa.Schema
    row_groups: tuple[int, ...] = ()  # Parquet: rows per row group


@dataclass(frozen=True)
class Part:
    index: int
    path: str
    format: str
    row_groups: tuple[int, ...]  # Parquet: the row groups it reads; otherwise empty (the whole file)
    rows: int | None
    first_row: int  # the row number, in its file, of its first row

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "path": self.path, "format": self.format, "row_groups": list(self.row_groups),
                "rows": self.rows, "first_row": self.first_row}  # fmt: skip


def expand(inputs: Sequence[str]) -> list[str]:
    """Files from what the user named: files, folders (every file of a known format in them, in name order) and
    glob patterns, each checked to exist."""
    if not inputs:
        raise InvalidArgument("INPUT: name at least one file or folder to score")
    found: list[str] = []
    for given in inputs:
        fs, path = fsspec.url_to_fs(given)
        if any(c in path for c in "*?["):
            matches = sorted(fs.glob(path))
        elif fs.isdir(path):
            matches = sorted(p for p in fs.find(path) if not _hidden(p, path))
        elif fs.exists(path):
            matches = [path]
        else:
            raise InvalidArgument(f"{given}: no such file or folder")
        files = [m for m in matches if _format(m, strict=False)]
        if not files:
            raise InvalidArgument(f"{given}: holds no file to score (.parquet, .csv, .jsonl, .npy, .npz)")
        found += [fs.unstrip_protocol(m) if "://" in given else m for m in files]
    return found


def describe(path: str) -> InputFile:
    """The sha256 of the file's content (and its lines, for text formats), then its schema from the start or the
    footer. An unreadable file is one line here, before any work.

    Of the content, not of a Parquet file's footer (its schema, offsets, sizes and statistics), which would cost a
    few kilobytes instead of a pass over the file: measured, one value changed in a row of floats changed neither
    the file's size nor its footer, and a resumed job would have mixed two versions of its input."""
    format_ = _format(path)
    digest, size, lines = _digest(path, count_lines=format_ in ("csv", "jsonl"))
    try:
        with open_for_arrow(path) if format_ in ("parquet", "csv", "jsonl") else fsspec.open(path, "rb") as handle:
            if format_ == "parquet":
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(handle).metadata
                groups = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
                return InputFile(path, format_, size, digest, meta.num_rows, meta.schema.to_arrow_schema(), groups)
            if format_ == "csv":
                import pyarrow.csv

                schema = pyarrow.csv.open_csv(handle).schema
                return InputFile(path, format_, size, digest, max(0, lines - 1), schema)
            if format_ == "jsonl":
                import pyarrow.json

                schema = pyarrow.json.open_json(handle).schema
                return InputFile(path, format_, size, digest, lines, schema)
            table = _numpy_table(path, handle)
            return InputFile(path, format_, size, digest, table.num_rows, table.schema)
    except (pa.ArrowException, ValueError, OSError, EOFError) as exc:
        raise InvalidArgument(f"{path}: not a readable {format_} file: {_first_line(exc)}") from None


def parts(files: Sequence[InputFile], part_rows: int | None = None) -> list[Part]:
    part_rows = part_rows or PART_ROWS
    found: list[Part] = []
    for file in files:
        if file.format != "parquet" or not file.row_groups:
            found.append(Part(len(found), file.path, file.format, (), file.rows, 0))
            continue
        start, groups, rows = 0, [], 0
        for i, n in enumerate(file.row_groups):
            groups.append(i)
            rows += n
            if rows >= part_rows or i == len(file.row_groups) - 1:
                found.append(Part(len(found), file.path, file.format, tuple(groups), rows, start))
                start, groups, rows = start + rows, [], 0
    return found


def read(part: Part, batch_rows: int) -> Generator[pa.RecordBatch, None, None]:
    """The part's rows, at most `batch_rows` at a time, in order; memory bounded by a batch (and, for `.npz` and
    remote `.npy`, by the file, which those formats cannot stream)."""
    native = part.format in ("parquet", "csv", "jsonl")
    with open_for_arrow(part.path) if native else fsspec.open(part.path, "rb") as handle:
        if part.format == "parquet":
            import pyarrow.parquet as pq

            # pre_buffer (the default) reads ahead the whole file (monitoring/sources.py measured 2.4 GiB at 10M rows)
            reader = pq.ParquetFile(handle, pre_buffer=False)
            groups = [reader.metadata.row_group(i) for i in part.row_groups]
            row_bytes = sum(g.total_byte_size for g in groups) / max(1, sum(g.num_rows for g in groups))
            # decoding costs per call: 1,024-row reads of W1 took 2x the time of 8,192-row reads sliced
            rows = max(batch_rows, min(READ_ROWS, int(READ_BYTES / max(row_bytes, 1))))
            batches = reader.iter_batches(batch_size=rows, row_groups=list(part.row_groups))
            yield from _rebatched(batches, batch_rows)
        elif part.format == "csv":
            import pyarrow.csv

            options = pyarrow.csv.ReadOptions(block_size=_BLOCK)
            yield from _rebatched(pyarrow.csv.open_csv(handle, read_options=options), batch_rows)
        elif part.format == "jsonl":
            import pyarrow.json

            json_options = pyarrow.json.ReadOptions(block_size=_BLOCK)
            yield from _rebatched(pyarrow.json.open_json(handle, read_options=json_options), batch_rows)
        else:
            yield from _numpy_table(part.path, handle).to_batches(max_chunksize=batch_rows)


def _rebatched(reader: Any, rows: int) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def _numpy_table(path: str, handle: Any) -> pa.Table:
    """An `.npy` file as a table of one column named after the file; an `.npz` as a column per array. A row of a
    tensor becomes a fixed-size list (flattened); `columns.gather` gives it back its shape."""
    if path.lower().endswith(".npy"):
        local = getattr(handle, "path", None) if "://" not in path else None
        array = np.load(local, mmap_mode="r") if local else np.load(io.BytesIO(handle.read()), allow_pickle=False)
        arrays = {PurePosixPath(path).stem: array}
    else:
        with np.load(io.BytesIO(handle.read()), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    rows = {len(a) for a in arrays.values() if a.ndim}
    if len(rows) != 1 or any(a.ndim == 0 for a in arrays.values()):
        raise InvalidArgument(f"{path}: its arrays must have one number of rows (first dimension); they have "
                              f"{sorted(rows)}")  # fmt: skip
    return pa.table({name: _arrow(a) for name, a in arrays.items()})


def _arrow(array: np.ndarray) -> pa.Array:
    if array.ndim == 1:
        return pa.array(np.asarray(array))
    flat = np.ascontiguousarray(array).reshape(len(array), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])


def _digest(path: str, count_lines: bool) -> tuple[str, int, int]:
    digest, size, lines, last = hashlib.sha256(), 0, 0, b"\n"
    try:
        with fsspec.open(path, "rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
                size += len(block)
                if count_lines:
                    lines += block.count(b"\n")
                    last = block[-1:]
    except FileNotFoundError:
        raise InvalidArgument(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if count_lines and size and last != b"\n":
        lines += 1
    return digest.hexdigest(), size, lines


def _format(path: str, strict: bool = True) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix not in FORMATS:
        if strict:
            raise InvalidArgument(f"{path}: read .parquet, .csv, .jsonl, .npy or .npz, not {suffix or 'no suffix'}")
        return ""
    return FORMATS[suffix]


def _hidden(path: str, root: str) -> bool:
    return any(p.startswith((".", "_")) for p in PurePosixPath(path).relative_to(PurePosixPath(root)).parts)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
