"""What the traffic log keeps of one request, and a batch of them as one Arrow table.

A tensor is two columns named after the signature: `input.x` holds its values, flat, and `input.x.shape` its shape
(each request has its own batch size), so any tensor of any shape fits one schema and comes back as it was sent.

On the request path an entry is a tuple of references (the decoded request, the response, two clocks): 0.7 µs,
where a record object with its tensors gathered into dicts cost 5 µs. The writer thread turns a batch of entries
into columns with numpy doing the per-row work: 1-2 µs an entry, where list-of-lists conversion cost 7.
"""

from __future__ import annotations

import itertools
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
    names = [e.called.partition("@") for e in entries]
    columns: dict[str, Any] = {
        "request_id": pa.array([e.request.id or "" for e in entries], pa.string()),
        "time": pa.array(np.array([e.time_ns for e in entries], np.int64), pa.timestamp("ns", tz="UTC")),
        "model": pa.array([n[0] for n in names], pa.string()),
        "version": pa.array([e.version for e in entries], pa.string()),
        "alias": pa.array([n[2] for n in names], pa.string()),
        "latency_us": pa.array(np.array([e.latency_ns for e in entries], np.float64) / 1000),
        "outcome": pa.array(["ok" if e.error is None else type(e.error).__name__ for e in entries], pa.string()),
        "error": pa.array(["" if e.error is None else str(e.error) for e in entries], pa.string()),
    }
    inputs = [{i.name: i.data for i in e.request.inputs} for e in entries]
    outputs = [{o.name: o.data for o in e.response.outputs} if e.response is not None else {} for e in entries]
    for prefix, side in ((INPUT, inputs), (OUTPUT, outputs)):
        for name in sorted({n for tensors in side for n in tensors}):
            tensors = [t.get(name) for t in side]
            columns[prefix + name] = _values(tensors)
            columns[prefix + name + SHAPE] = _shapes(tensors)
    return pa.table(columns)


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
