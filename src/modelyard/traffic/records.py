"""What the traffic log keeps of the requests, as columns from the moment they are recorded, and those columns as
one Arrow table.

A tensor is two columns named after the signature: `input.x` holds its values, flat, and `input.x.shape` its shape
(each request has its own batch size), so any tensor of any shape fits one schema and comes back as it was sent.

On the request path a record appends to lists: the request id, the name called, two clocks, and each tensor's array
with its row number. Only strings, integers and arrays are kept, none of which the garbage collector tracks.
Entries that held the decoded request and response objects until the writer took them (a quarter of a second)
were promoted out of the young generation by the thousand, and the collections that followed doubled the server's
CPU a request at W1 c=64 with every request logged (docs/measurements.md, "The traffic log"). The writer then
builds each column with numpy in one call, without a loop over the entries.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

INPUT, OUTPUT = "input.", "output."
SHADOW = "shadow"  # the alias a candidate's shadow answers are logged under (server/experiments.py)
SHAPE = ".shape"
OVERHEAD_BYTES = 256  # an entry's strings and bookkeeping, beside its tensors


class Named(Protocol):
    """An input or output of the protocol's types: a name and its array."""

    @property
    def name(self) -> str: ...

    @property
    def data(self) -> np.ndarray: ...


class Columns:
    """One (model, version)'s entries since the writer last took them, column by column."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.ids: list[str] = []
        self.called: list[str] = []
        self.times: list[int] = []
        self.latencies: list[int] = []
        self.failures: list[tuple[int, str, str]] = []  # (row, outcome, error)
        self.tensors: dict[str, tuple[list[int], list[np.ndarray]]] = {}  # column -> (rows, arrays)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, called: str, request_id: str | None, inputs: Sequence[Named], outputs: Sequence[Named] | None,
            time_ns: int, latency_ns: int, error: Exception | None) -> int:  # fmt: skip
        """Append one entry; its size in bytes, for the buffer's bound."""
        row = len(self.ids)
        self.ids.append(request_id or "")
        self.called.append(called)
        self.times.append(time_ns)
        self.latencies.append(latency_ns)
        if error is not None:
            self.failures.append((row, type(error).__name__, str(error)))
        size = OVERHEAD_BYTES
        for prefix, side in ((INPUT, inputs), (OUTPUT, outputs or ())):
            for tensor in side:
                key = prefix + tensor.name
                found = self.tensors.get(key)
                if found is None:
                    found = self.tensors[key] = ([], [])
                found[0].append(row)
                found[1].append(tensor.data)
                size += _nbytes(tensor.data)
        return size

    def table(self) -> pa.Table:
        """The entries as one table; the columns alike for every row (a group shares its model and version, and
        nearly always its alias and a clean outcome) repeated, not converted row by row."""
        count = len(self.ids)
        outcome, error = ["ok"] * count, [""] * count
        for row, kind, text in self.failures:
            outcome[row], error[row] = kind, text
        first = self.called[0] if count else ""
        same = count > 0 and self.called.count(first) == count
        model, alias = first.partition("@")[::2]
        columns: dict[str, Any] = {
            "request_id": pa.array(self.ids, pa.string()),
            "time": pa.array(np.array(self.times, np.int64), pa.timestamp("ns", tz="UTC")),
            "model": _repeat(model, count) if same else pa.array([c.partition("@")[0] for c in self.called]),
            "version": _repeat(self.version, count),
            "alias": _repeat(alias, count) if same else pa.array([c.partition("@")[2] for c in self.called]),
            "latency_us": pa.array(np.array(self.latencies, np.float64) / 1000),
            "outcome": pa.array(outcome, pa.string()) if self.failures else _repeat("ok", count),
            "error": pa.array(error, pa.string()) if self.failures else _repeat("", count),
        }
        for column in sorted(self.tensors, key=lambda c: (not c.startswith(INPUT), c)):
            rows, arrays = self.tensors[column]
            placed: list[np.ndarray | None] = list(arrays)
            if len(rows) < count:  # some entries lack it (a failed request's outputs): each in its row
                placed = [None] * count
                for row, array in zip(rows, arrays, strict=True):
                    placed[row] = array
            columns[column] = _values(placed)
            columns[column + SHAPE] = _shapes(placed)
        return pa.table(columns)


def _repeat(value: str, count: int) -> pa.Array:
    return pa.array([value], pa.string()).take(np.zeros(count, np.int32))


def tensor(table: pa.Table, column: str) -> np.ndarray:
    """The rows' tensors of `column` (`input.x`), joined along the batch axis: what the requests sent, in order.
    Rows without it (a failed request's outputs) are left out."""
    parts = [t for t in row_tensors(table, column) if t is not None]
    if not parts:
        return np.empty((0,))
    return np.concatenate(parts) if parts[0].ndim else np.stack(parts)


def row_tensors(table: pa.Table, column: str) -> list[np.ndarray | None]:
    """Each row's tensor of `column`, in its shape; None where the row has none."""
    values, shapes = table.column(column), table.column(column + SHAPE).to_pylist()
    binary = pa.types.is_binary(values.type.value_type)
    rows = values.to_pylist() if binary else _numeric_rows(values)
    return [
        None if shape is None or row is None else np.asarray(row, dtype=object if binary else None).reshape(shape)
        for row, shape in zip(rows, shapes, strict=True)
    ]


def _numeric_rows(values: pa.ChunkedArray) -> list[np.ndarray | None]:
    rows: list[np.ndarray | None] = []
    for chunk in values.chunks:
        flat = chunk.flatten().to_numpy(zero_copy_only=False)
        offsets = chunk.offsets.to_numpy() - chunk.offsets[0].as_py()
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        rows += [flat[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(chunk))]
    return rows


def _values(tensors: list[np.ndarray | None]) -> pa.Array:
    present = [t for t in tensors if t is not None]
    if present and present[0].dtype == object:
        rows = [None if t is None else [bytes(v) for v in t.ravel()] for t in tensors]
        return pa.array(rows, pa.list_(pa.binary()))
    dtype = present[0].dtype if present else np.dtype(np.float32)
    sizes = np.array([0 if t is None else t.size for t in tensors], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    flat = np.concatenate([t.astype(dtype, copy=False).ravel() for t in present]) if present else np.empty(0, dtype)
    mask = pa.array(np.array([t is None for t in tensors])) if len(present) < len(tensors) else None
    return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat), mask=mask)


def _shapes(tensors: list[np.ndarray | None]) -> pa.Array:
    ranks = {t.ndim for t in tensors if t is not None}
    if len(ranks) == 1 and all(t is not None for t in tensors):
        rank = ranks.pop()  # one rank, no gaps: the shapes as one matrix, no list per row
        shapes = itertools.chain.from_iterable(t.shape for t in tensors if t is not None)
        dims = np.fromiter(shapes, np.int64, count=len(tensors) * rank)  # np.array of tuples: 1.6 µs a row
        offsets = np.arange(len(tensors) + 1, dtype=np.int32) * rank
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(dims, pa.int64()))
    return pa.array([None if t is None else list(t.shape) for t in tensors], pa.list_(pa.int64()))


def _nbytes(array: np.ndarray) -> int:
    if array.dtype == object:
        return sum(len(v) if isinstance(v, bytes | str) else 8 for v in array.ravel())
    return int(array.nbytes)
