"""What the traffic log keeps of one request, and a batch of them as one Arrow table.

A tensor is two columns named after the signature: `input.x` holds its values, flat, and `input.x.shape` its shape
(each request has its own batch size), so any tensor of any shape fits one schema and comes back as it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

META = ("request_id", "time", "model", "version", "alias", "latency_us", "outcome", "error")
INPUT, OUTPUT = "input.", "output."
SHAPE = ".shape"
OVERHEAD_BYTES = 256  # a record's strings and bookkeeping, beside its tensors


@dataclass(slots=True)
class Record:
    request_id: str
    time_ns: int
    model: str
    version: str
    alias: str  # the alias the caller named (`fraud@production`), or ""
    latency_us: float
    outcome: str  # "ok", or the error's class (InvalidArgument, ModelExecutionError, ...)
    error: str
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        tensors = [*self.inputs.values(), *self.outputs.values()]
        return OVERHEAD_BYTES + sum(_nbytes(a) for a in tensors)


def to_table(records: list[Record]) -> pa.Table:
    columns: dict[str, Any] = {
        "request_id": pa.array([r.request_id for r in records], pa.string()),
        "time": pa.array([r.time_ns for r in records], pa.timestamp("ns", tz="UTC")),
        "model": pa.array([r.model for r in records], pa.string()),
        "version": pa.array([r.version for r in records], pa.string()),
        "alias": pa.array([r.alias for r in records], pa.string()),
        "latency_us": pa.array([r.latency_us for r in records], pa.float64()),
        "outcome": pa.array([r.outcome for r in records], pa.string()),
        "error": pa.array([r.error for r in records], pa.string()),
    }
    for prefix, side in ((INPUT, "inputs"), (OUTPUT, "outputs")):
        names = sorted({n for r in records for n in getattr(r, side)})
        for name in names:
            tensors = [getattr(r, side).get(name) for r in records]
            columns[prefix + name] = _values(tensors)
            columns[prefix + name + SHAPE] = pa.array(
                [None if t is None else list(t.shape) for t in tensors], pa.list_(pa.int64())
            )
    return pa.table(columns)


def tensor(table: pa.Table, column: str) -> np.ndarray:
    """The rows' tensors of `column` (`input.x`), joined along the batch axis: what the requests sent, in order.
    Rows without it (a failed request's outputs) are left out."""
    values, shapes = table.column(column), table.column(column + SHAPE).to_pylist()
    parts = []
    for chunk_row, shape in zip(values.to_pylist() if _is_binary(values) else _numeric_rows(values), shapes,
                                strict=True):  # fmt: skip
        if shape is None:
            continue
        parts.append(np.asarray(chunk_row, dtype=object if _is_binary(values) else None).reshape(shape))
    if not parts:
        return np.empty((0,))
    return np.concatenate(parts) if parts[0].ndim else np.stack(parts)


def _numeric_rows(values: pa.ChunkedArray) -> list[np.ndarray | None]:
    rows: list[np.ndarray | None] = []
    for chunk in values.chunks:
        flat = chunk.flatten().to_numpy(zero_copy_only=False)
        offsets = chunk.offsets.to_numpy()
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        rows += [flat[offsets[i] - offsets[0] : offsets[i + 1] - offsets[0]] if valid[i] else None
                 for i in range(len(chunk))]  # fmt: skip
    return rows


def _values(tensors: list[np.ndarray | None]) -> pa.Array:
    present = [t for t in tensors if t is not None]
    if present and present[0].dtype == object:
        rows = [None if t is None else [bytes(v) for v in t.ravel()] for t in tensors]
        return pa.array(rows, pa.list_(pa.binary()))
    dtype = present[0].dtype if present else np.dtype(np.float32)
    flat = [np.asarray(t, dtype=dtype).ravel() for t in present]
    sizes = [0 if t is None else t.size for t in tensors]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    values = pa.array(np.concatenate(flat) if flat else np.empty(0, dtype))
    mask = pa.array([t is None for t in tensors])
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=mask)


def _is_binary(values: pa.ChunkedArray) -> bool:
    return bool(pa.types.is_binary(values.type.value_type))


def _nbytes(array: np.ndarray) -> int:
    if array.dtype == object:
        return sum(len(v) if isinstance(v, bytes | str) else 8 for v in array.ravel())
    return int(array.nbytes)
