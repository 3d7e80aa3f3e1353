"""What the traffic log keeps of one request, and a batch of them as one Arrow table.

A tensor is two columns named after the signature: `input.x` holds its values, flat, and `input.x.shape` its shape
(each request has its own batch size), so any tensor of any shape fits one schema and comes back as it was sent.

On the request path an entry is a tuple of references (the decoded request, the response, two clocks): 0.7 µs,
where a record object with its tensors gathered into dicts cost 5 µs. The writer thread turns a batch of entries
into columns with numpy doing the per-row work: 1-2 µs an entry, where list-of-lists conversion cost 7.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from modelyard.protocol.types import InferRequest, InferResponse

INPUT, OUTPUT = "input.", "output."
SHADOW = "shadow"  # the alias a candidate's shadow answers are logged under (server/experiments.py)
SHAPE = ".shape"
OVERHEAD_BYTES = 256  # an entry's strings and bookkeeping, beside its tensors


class Entry(NamedTuple):
    called: str  # the name the caller used: `fraud@production`
    version: str
    request: InferRequest
    response: InferResponse | None  # None: the request failed
    time_ns: int
    latency_ns: int
    error: Exception | None


def entry_bytes(request: InferRequest, response: InferResponse | None) -> int:
    size = OVERHEAD_BYTES + sum(_nbytes(i.data) for i in request.inputs)
    return size + (sum(_nbytes(o.data) for o in response.outputs) if response is not None else 0)


def to_table(entries: list[Entry]) -> pa.Table:
    """One pass over the entries gathers every column; columns alike for all rows (a group shares its model and
    version, and nearly always its alias and a clean outcome) are repeated, not converted row by row."""
    count = len(entries)
    ids, times, called, latencies = [], np.empty(count, np.int64), [], np.empty(count, np.float64)
    failures: list[tuple[int, Exception]] = []
    tensors: dict[str, list[np.ndarray | None]] = {}
    for row, e in enumerate(entries):
        ids.append(e.request.id or "")
        times[row] = e.time_ns
        latencies[row] = e.latency_ns
        called.append(e.called)
        if e.error is not None:
            failures.append((row, e.error))
        for side, prefix in ((e.request.inputs, INPUT), (e.response.outputs if e.response else (), OUTPUT)):
            for t in side:
                rows = tensors.get(prefix + t.name)
                if rows is None:
                    rows = tensors[prefix + t.name] = [None] * count
                rows[row] = t.data
    outcome, error = ["ok"] * count, [""] * count
    for row, exc in failures:
        outcome[row], error[row] = type(exc).__name__, str(exc)
    names = _same_or_each(called, count)
    columns: dict[str, Any] = {
        "request_id": pa.array(ids, pa.string()),
        "time": pa.array(times, pa.timestamp("ns", tz="UTC")),
        "model": names(lambda c: c.partition("@")[0]),
        "version": _same_or_each([e.version for e in entries], count)(str),
        "alias": names(lambda c: c.partition("@")[2]),
        "latency_us": pa.array(latencies / 1000),
        "outcome": pa.array(outcome, pa.string()) if failures else _repeat("ok", count),
        "error": pa.array(error, pa.string()) if failures else _repeat("", count),
    }
    for column in sorted(tensors, key=lambda c: (not c.startswith(INPUT), c)):
        columns[column] = _values(tensors[column])
        columns[column + SHAPE] = _shapes(tensors[column])
    return pa.table(columns)


def _same_or_each(values: list[str], count: int) -> Callable[[Callable[[str], str]], pa.Array]:
    """A string column derived from `values`: computed once when every row has the same value."""
    same = count > 0 and values.count(values[0]) == count

    def derive(f: Callable[[str], str]) -> pa.Array:
        return _repeat(f(values[0]), count) if same else pa.array([f(v) for v in values], pa.string())

    return derive


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
