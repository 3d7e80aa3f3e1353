"""Arrays from the files people keep data in, as a model's inputs, and a model's outputs back into such files.

`modelyard infer` (and, with the same rules, what reads tables for a model) takes `--input NAME=FILE` or `--input
FILE`:

- `NAME=FILE`: the file holds input NAME. `.npy` an array; `.json` a nested list (or `{"NAME": [...]}`); `.csv`
  and `.parquet` a table whose columns, side by side, are the rows of a 2-D input (rows x columns).
- `FILE`: the file holds several inputs by name. `.npz` an array per input; `.json` an object of nested lists;
  `.csv` and `.parquet` a column per input (`x` becomes shape (rows, 1)), or, when no column is named after an
  input and the model takes one, every column side by side for it.

Each array is cast to the datatype the model declares for its input; its shape is the data plane's to check. Any
fsspec URL works where a path does (`s3://...`, with its filesystem installed).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import numpy as np
import orjson

from modelyard.columns import cast, output_columns
from modelyard.errors import InvalidArgument

TABLES = (".csv", ".parquet", ".pq")


def read_inputs(
    specs: Sequence[str], datatypes: Mapping[str, str], exclude: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """The model's inputs from `specs` (`NAME=FILE` or `FILE`); `datatypes`: its inputs' names and datatypes;
    `exclude`: columns (or arrays) that are not inputs, such as the labels `validate --labels` reads."""
    if not specs:
        raise InvalidArgument(f"--input: give the model's inputs ({', '.join(datatypes)}) as NAME=FILE or FILE")
    arrays: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep and "/" not in name:
            if name not in datatypes:
                raise InvalidArgument(
                    f"--input {spec}: the model has no input {name!r} (its inputs: {', '.join(datatypes)})"
                )
            arrays[name] = _one(name, path)
        else:
            arrays.update({k: v for k, v in _several(spec, list(datatypes), exclude).items() if k not in exclude})
    unknown = sorted(set(arrays) - set(datatypes))
    if unknown:
        raise InvalidArgument(f"--input: the model has no input {unknown[0]!r} (its inputs: {', '.join(datatypes)})")
    missing = [n for n in datatypes if n not in arrays]
    if missing:
        raise InvalidArgument(f"--input: no data for the model's input {missing[0]!r}")
    return {n: cast(a, n, datatypes[n]) for n, a in arrays.items()}


def write_outputs(outputs: Mapping[str, np.ndarray], path: str) -> None:
    """`.npz` every output; `.npy` the one output; `.json` an object of nested lists; `.csv`/`.parquet` a column
    per output, or per element of a 2-D output (`y_0`, `y_1`, ...)."""
    suffix = _suffix(path)
    if suffix == ".npy" and len(outputs) != 1:
        raise InvalidArgument(f"--output {path}: .npy holds one array; the model has {len(outputs)} outputs (.npz)")
    buffer = io.BytesIO()
    if suffix == ".npz":
        np.savez(buffer, **outputs)  # type: ignore[arg-type]
    elif suffix == ".npy":
        np.save(buffer, next(iter(outputs.values())))
    elif suffix == ".json":
        buffer.write(orjson.dumps({n: _listed(a) for n, a in outputs.items()}))
    elif suffix in TABLES:
        _write_table(outputs, buffer, suffix)
    else:
        raise InvalidArgument(f"--output {path}: write .npz, .npy, .json, .csv or .parquet")
    with fsspec.open(path, "wb") as f:
        f.write(buffer.getvalue())


def _one(name: str, path: str) -> np.ndarray:
    suffix = _suffix(path)
    if suffix == ".npy":
        return np.asarray(np.load(io.BytesIO(_read(path)), allow_pickle=False))
    if suffix == ".json":
        value = _json(path)
        return np.asarray(value[name] if isinstance(value, dict) and name in value else value)
    if suffix in TABLES:
        return _columns_side_by_side(_table(path))
    raise InvalidArgument(f"--input {name}={path}: read .npy, .json, .csv or .parquet")


def read_column(path: str, column: str, flag: str = "--labels") -> np.ndarray:
    """One column of a table (or one array of an `.npz`), whole."""
    suffix = _suffix(path)
    if suffix == ".npz":
        with np.load(io.BytesIO(_read(path)), allow_pickle=False) as archive:
            if column not in archive.files:
                raise InvalidArgument(f"{flag} {column}: {path} has no array {column!r} (it has: "
                                      f"{', '.join(archive.files)})")  # fmt: skip
            return np.asarray(archive[column])
    if suffix not in TABLES:
        raise InvalidArgument(f"{flag} {column}: labels come from a table (.parquet, .csv) or an .npz, not {path}")
    table = _table(path)
    if column not in table.column_names:
        raise InvalidArgument(f"{flag} {column}: {path} has no column {column!r} (it has: "
                              f"{', '.join(table.column_names)})")  # fmt: skip
    return np.asarray(table[column].to_numpy(zero_copy_only=False))


def _several(path: str, names: list[str], exclude: Sequence[str] = ()) -> dict[str, np.ndarray]:
    suffix = _suffix(path)
    if suffix == ".npz":
        with np.load(io.BytesIO(_read(path)), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    if suffix == ".json":
        value = _json(path)
        if not isinstance(value, dict):
            if len(names) == 1:
                return {names[0]: np.asarray(value)}
            raise InvalidArgument(f"--input {path}: expected an object of inputs by name ({', '.join(names)})")
        return {k: np.asarray(v) for k, v in value.items()}
    if suffix in TABLES:
        table = _table(path)
        named = {n: table[n].to_numpy(zero_copy_only=False).reshape(-1, 1) for n in names if n in table.column_names}
        if named:
            return named
        if len(names) == 1:
            return {
                names[0]: _columns_side_by_side(table.drop_columns([c for c in exclude if c in table.column_names]))
            }
        raise InvalidArgument(f"--input {path}: no column is named after an input ({', '.join(names)})")
    raise InvalidArgument(f"--input {path}: read .npz, .json, .csv or .parquet, or give NAME=FILE")


def _columns_side_by_side(table: Any) -> np.ndarray:
    columns = [table[n].to_numpy(zero_copy_only=False) for n in table.column_names]
    if not columns:
        raise InvalidArgument("--input: the table has no columns")
    return np.column_stack(columns)


def _table(path: str) -> Any:
    import pyarrow.csv
    import pyarrow.parquet

    # on this thread: pyarrow 26's threaded readers could abort a short process at its exit (batch/output.py)
    data = pyarrow.BufferReader(_read(path))
    try:
        if _suffix(path) == ".csv":
            return pyarrow.csv.read_csv(data, read_options=pyarrow.csv.ReadOptions(use_threads=False))
        return pyarrow.parquet.read_table(data, use_threads=False)
    except pyarrow.ArrowException as exc:
        raise InvalidArgument(f"--input {path}: not a readable table: {exc}") from None


def _write_table(outputs: Mapping[str, np.ndarray], buffer: io.BytesIO, suffix: str) -> None:
    import pyarrow
    import pyarrow.csv
    import pyarrow.parquet

    table = pyarrow.table(output_columns(outputs, flat=True))  # a column per element: the reader's rule 3
    if suffix == ".csv":
        pyarrow.csv.write_csv(table, buffer)
    else:
        pyarrow.parquet.write_table(table, buffer)


def _listed(array: np.ndarray) -> Any:
    if array.dtype == object:
        return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in array.ravel().tolist()]
    return array.tolist()


def _json(path: str) -> Any:
    try:
        return orjson.loads(_read(path))
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"--input {path}: not JSON: {exc}") from None


def open_for_arrow(path: str) -> Any:
    """The file at `path` for pyarrow's readers: a native file when it is local, so that pyarrow's threads never
    call into Python (pyarrow 26 reading a Python file object on its threads aborted the interpreter at exit, one
    run in two: "terminate called without an active exception"); otherwise the fsspec file."""
    fs, local = fsspec.url_to_fs(path)
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        import pyarrow

        return pyarrow.OSFile(local, "rb")
    return fsspec.open(path, "rb").open()


def _read(path: str) -> bytes:
    try:
        with fsspec.open(path, "rb") as f:
            data: bytes = f.read()
            return data
    except FileNotFoundError:
        raise InvalidArgument(f"--input: no such file: {path}") from None
    except OSError as exc:
        raise InvalidArgument(f"--input {path}: {exc.strerror or exc}") from None


def _suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower() if "://" in path else Path(path).suffix.lower()
