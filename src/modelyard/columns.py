"""A table's columns as a model's inputs, and a model's outputs as a table's columns: the one rule of every
command that reads tables for a model (`batch`, `drift --data`, `validate --data`, reference profiles).

Each input NAME of the model takes, of these, the first that the table has:

1. the column `--map COLUMN=NAME` names;
2. a column named NAME: a number per row, or a list per row (a fixed-size list, or lists of one length, nested
   for more dimensions) for a tensor input;
3. columns `NAME_0`, `NAME_1`, ... `NAME_{k-1}`, gathered side by side in index order (what `write_outputs` and
   `batch --format csv` write for a tensor);
4. for a model of one input only: every column that is not kept or excluded, side by side.

Each array is then shaped as the input declares (rows first) and cast to its datatype. The rule is checked on the
schema alone (`plan`), so that a missing column or a column of strings for a number is one line before any work.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.datatypes import to_numpy
from modelyard.errors import InvalidArgument
from modelyard.signature import TensorSpec

_NUMPY: dict[str, np.dtype[Any]] = {
    "halffloat": np.dtype(np.float16),
    "float": np.dtype(np.float32),
    "double": np.dtype(np.float64),
    **{n: np.dtype(n) for n in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")},
}
_ELEMENT = re.compile(r"^(?P<name>.+)_(?P<index>\d+)$")


@dataclass(frozen=True)
class Feed:
    """The columns one input is gathered from; `side_by_side`: one column per element (rules 3 and 4)."""

    name: str
    columns: tuple[str, ...]
    side_by_side: bool


def plan(
    schema: pa.Schema, inputs: Sequence[TensorSpec], mapping: Mapping[str, str] | None = None,
    exclude: Collection[str] = (), where: str = "",
) -> list[Feed]:  # fmt: skip
    """Which columns feed each input, refused here when a column is missing or of a type the input cannot take."""
    feeds = resolve(schema.names, [i.name for i in inputs], mapping, exclude, where)
    for feed, spec in zip(feeds, inputs, strict=True):
        for column_name in feed.columns:
            _check_type(schema.field(column_name).type, spec, column_name, where)
        _check_width(schema, feed, spec, where)
    return feeds


def resolve(
    names: Sequence[str], inputs: Sequence[str], mapping: Mapping[str, str] | None = None,
    exclude: Collection[str] = (), where: str = "",
) -> list[Feed]:  # fmt: skip
    """The rule alone, on column names: which columns feed each of the inputs named."""
    by_input = {input_: column for column, input_ in (mapping or {}).items()}
    unknown = sorted(set(by_input) - set(inputs))
    if unknown:
        raise InvalidArgument(f"--map: the model has no input {unknown[0]!r} (its inputs: {', '.join(inputs)})")
    feeds = []
    for name in inputs:
        if name in by_input:
            column_name = by_input[name]
            if column_name not in names:
                raise InvalidArgument(f"{where}: no column {column_name!r} (--map {column_name}={name}); columns: "
                                      f"{', '.join(names)}")  # fmt: skip
            feeds.append(Feed(name, (column_name,), False))
        elif name in names:
            feeds.append(Feed(name, (name,), False))
        elif elements := _elements(names, name):
            feeds.append(Feed(name, elements, True))
        elif len(inputs) == 1 and (rest := tuple(n for n in names if n not in exclude)):
            feeds.append(Feed(name, rest, True))
        else:
            raise InvalidArgument(f"{where}: no column for the model's input {name!r} (columns: "
                                  f"{', '.join(names)}; name one with --map COLUMN={name})")  # fmt: skip
    return feeds


def arrays(table: pa.Table | pa.RecordBatch, feeds: Sequence[Feed]) -> dict[str, np.ndarray]:
    """Each feed's columns as one array, as the file holds them (not yet shaped or cast for a model)."""
    found = {}
    for feed in feeds:
        if feed.side_by_side:
            found[feed.name] = np.column_stack([column(table.column(c)) for c in feed.columns])
        else:
            found[feed.name] = column(table.column(feed.columns[0]))
    return found


def _check_width(schema: pa.Schema, feed: Feed, spec: TensorSpec, where: str) -> None:
    """Values per row, where the schema tells them, against what the input takes (when its dimensions are fixed)."""
    dims = spec.shape[1:]
    if -1 in dims:
        return
    takes = int(np.prod(dims)) if dims else 1
    widths = [_width(schema.field(c).type) for c in feed.columns]
    gives = None if None in widths else sum(w for w in widths if w is not None)
    if gives is not None and gives != takes:
        named = ", ".join(feed.columns[:4]) + (", ..." if len(feed.columns) > 4 else "")
        verb = "gives" if len(feed.columns) == 1 else "give"
        raise InvalidArgument(f"{where}: {named} {verb} {gives} values per row; the model's input {spec.name!r} "
                              f"takes {takes} (shape {list(spec.shape)})")  # fmt: skip


def gather(
    table: pa.Table | pa.RecordBatch, feeds: Sequence[Feed], inputs: Sequence[TensorSpec]
) -> dict[str, np.ndarray]:
    """The inputs' arrays from the columns `plan` chose, shaped and cast as each input declares."""
    found = arrays(table, feeds)
    return {s.name: cast(_shaped(found[s.name], s, len(table)), s.name, s.datatype) for s in inputs}


def missing(table: pa.Table | pa.RecordBatch, feeds: Sequence[Feed]) -> np.ndarray:
    """A row mask: True where a column feeding an input is null (the row has no value to give the model)."""
    mask = np.zeros(len(table), dtype=bool)
    for feed in feeds:
        for c in feed.columns:
            values = table.column(c)
            if values.null_count:
                mask |= np.asarray(pc.is_null(values), dtype=bool)
    return mask


def column(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One column as an array: (rows,) for numbers, (rows, k, ...) for lists of one length per level, without a
    Python object per row for numbers (a fixed-size list column of 10M rows is one reshape of its values)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        if values.null_count == 0 and str(kind) in _NUMPY:
            # a view of the values; pyarrow's to_numpy imports pandas where it is installed (0.16 s a process)
            data: np.ndarray = np.frombuffer(memoryview(values.buffers()[1]), dtype=_NUMPY[str(kind)])
            return data[values.offset : values.offset + len(values)]
        return np.asarray(values.to_numpy(zero_copy_only=False))
    rows = len(values)
    if pa.types.is_fixed_size_list(kind):
        width = kind.list_size
    else:
        lengths = pc.list_value_length(values)
        low, high = pc.min_max(lengths).values()
        if low.as_py() != high.as_py():
            raise InvalidArgument(f"a list column holds lists of {low.as_py()} to {high.as_py()} values; a tensor "
                                  "input takes lists of one length")  # fmt: skip
        width = high.as_py() or 0
    inner = column(values.flatten())
    return inner.reshape(rows, width, *inner.shape[1:])


def cast(array: np.ndarray, name: str, datatype: str) -> np.ndarray:
    """`array` as input `name` of `datatype` takes it (BYTES: each value as bytes)."""
    if datatype == "BYTES":
        flat = [v if isinstance(v, bytes) else str(v).encode() for v in array.ravel().tolist()]
        return np.array(flat, dtype=object).reshape(array.shape)
    try:
        return array.astype(to_numpy(datatype), copy=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"input {name}: cannot read it as {datatype}: {exc}") from None


def _shaped(array: np.ndarray, spec: TensorSpec, rows: int) -> np.ndarray:
    """(rows, ...) as the input declares: a number per row becomes (rows, 1) for a 2-D input; a flattened tensor
    is reshaped when the input's dimensions after the first are all fixed."""
    dims = spec.shape[1:]
    if not dims:
        return array.reshape(rows)
    if -1 in dims or tuple(array.shape[1:]) == dims:
        return array if array.ndim > 1 else array.reshape(rows, 1)
    size = int(np.prod(dims))
    if array.size != rows * size:
        raise InvalidArgument(f"input {spec.name}: {array.size // max(rows, 1)} values per row, the model takes "
                              f"{size} (shape {list(spec.shape)})")  # fmt: skip
    return array.reshape(rows, *dims)


def _width(kind: pa.DataType) -> int | None:
    """Values per row of a column: 1 for a number, the product of fixed-size lists, None for lists of any length."""
    width = 1
    while pa.types.is_fixed_size_list(kind):
        width *= kind.list_size
        kind = kind.value_type
    return None if pa.types.is_list(kind) or pa.types.is_large_list(kind) else width


def _elements(names: Sequence[str], name: str) -> tuple[str, ...]:
    found = {}
    for column_name in names:
        match = _ELEMENT.match(column_name)
        if match and match["name"] == name:
            found[int(match["index"])] = column_name
    if not found or sorted(found) != list(range(len(found))):
        return ()
    return tuple(found[i] for i in range(len(found)))


def _check_type(kind: pa.DataType, spec: TensorSpec, column_name: str, where: str) -> None:
    while pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        kind = kind.value_type
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    if spec.datatype != "BYTES" and not numeric and not pa.types.is_null(kind):
        raise InvalidArgument(f"{where}: column {column_name!r} holds {kind}; the model's input {spec.name!r} is "
                              f"{spec.datatype}")  # fmt: skip


def output_columns(outputs: Mapping[str, np.ndarray], flat: bool) -> dict[str, pa.Array]:
    """A model's outputs as columns: one value per row as a column of its name; more as a fixed-size list column
    (Parquet, JSON lines), or with `flat` as columns `NAME_0`, `NAME_1`, ... (CSV, which has no lists)."""
    columns: dict[str, pa.Array] = {}
    for name, array in outputs.items():
        rows = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
        if rows.dtype == object:
            rows = np.vectorize(lambda v: v.decode(errors="replace") if isinstance(v, bytes) else v, otypes=[object])(
                rows
            )
        if rows.shape[1] == 1:
            columns[name] = pa.array(rows[:, 0])
        elif flat:
            columns.update({f"{name}_{i}": pa.array(rows[:, i]) for i in range(rows.shape[1])})
        else:
            columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(rows.ravel()), rows.shape[1])
    return columns
