"""What the traffic log keeps of the requests, as columns from the moment they are recorded, and those columns as
one Arrow table.

A tensor is two columns named after the signature: `input.x` holds its values, flat, and `input.x.shape` its shape
(each request has its own batch size), so any tensor of any shape fits one schema and comes back as it was sent.

Entries come two ways. A sampled request that was answered comes with its batch (`Columns.add_batch`, called by
the batcher on whichever thread ran the batch): the batch's own arrays are kept whole when every request of it was
sampled, else the sampled requests' rows are copied out of them, so a buffer never holds rows it does not count.
A failed request comes alone (`Columns.add`), its tensors copied, since an answer's outputs (where one is given)
are views of its whole batch. Each tensor column is then a few arrays (one a batch), the
writer's table one concatenation of them.

What is kept is strings, integers and arrays, none of which the garbage collector tracks. Entries that held the
decoded request and response objects until the writer took them (then a quarter of a second) were promoted out of the
young generation by the thousand, and the collections that followed doubled the server's CPU a request at W1 c=64
with every request logged (docs/measurements.md, "The traffic log").
"""

from __future__ import annotations

import array
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

INPUT, OUTPUT = "input.", "output."
SHADOW = "shadow"  # the alias a candidate's shadow answers are logged under (server/experiments.py)
SHAPE = ".shape"
Logged = tuple[int, int, str, str | None, int]  # what the batcher shows of a logged request (`batching.Logged`)
OVERHEAD_BYTES = 256  # an entry's strings and bookkeeping, beside its tensors


class Named(Protocol):
    """An input or output of the protocol's types: a name and its array."""

    @property
    def name(self) -> str: ...

    @property
    def data(self) -> np.ndarray: ...


class _Tensor:
    """One tensor column's values since the last flush: arrays, entry after entry, that nothing else writes to."""

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype
        self.rows = array.array("q")  # the entry each value belongs to (an entry may lack it)
        self.ranks = array.array("q")
        self.dims = array.array("q")  # every entry's shape, one after another
        self.chunks: list[np.ndarray] = []  # numeric: one entry's values, or several entries' of one batch
        self.items: list[list[bytes]] = []  # BYTES: each entry's elements

    def add(self, row: int, data: np.ndarray) -> int:
        """One entry's tensor, copied: an answer's outputs are views of its whole batch, which a reference would
        keep alive uncounted."""
        self.rows.append(row)
        shape = data.shape
        self.ranks.append(len(shape))
        self.dims.extend(shape)
        if self.dtype == object:
            return self._items(data)
        copied = np.array(data, dtype=self.dtype)
        self.chunks.append(copied)
        return copied.nbytes

    def add_rows(self, first: int, spans: list[tuple[int, int]], batch_rows: int, data: np.ndarray) -> int:
        """Entries `first`, `first + 1`, ... holding the `(start, rows)` spans of a batch of `batch_rows`, in order.
        The batch's own array is kept whole when the spans cover it (every request of it logged), else their rows
        are copied out; a tensor without the batch's rows (a one-request batch's odd output) is the one entry's."""
        count = len(spans)
        self.rows.extend(range(first, first + count))
        if data.ndim == 0 or data.shape[0] != batch_rows:
            assert count == 1, "a batch of several requests has each tensor's rows (batching.run_batch)"
            self.ranks.append(data.ndim)
            self.dims.extend(data.shape)
            spans, taken = [(0, 1)], data[None]
        elif count == 1:  # one request of the batch sampled, or a batch of one: no array built for its shape
            start, rows = spans[0]
            self.ranks.append(data.ndim)
            self.dims.append(rows)
            self.dims.extend(data.shape[1:])
            taken = data if rows == batch_rows else data[start : start + rows].copy()
        else:
            self.ranks.extend([data.ndim] * count)
            dims = np.empty((count, data.ndim), np.int64)
            dims[:, 0] = [rows for _, rows in spans]
            dims[:, 1:] = data.shape[1:]
            self.dims.frombytes(dims.tobytes())
            whole = sum(rows for _, rows in spans) == batch_rows
            taken = data if whole else np.concatenate([data[start : start + rows] for start, rows in spans])
        if self.dtype == object:
            size, offset = 0, 0
            for _, rows in spans:
                size += self._items(taken[offset : offset + rows])
                offset += rows
            return size
        if taken.dtype != self.dtype:
            taken = taken.astype(self.dtype)
        self.chunks.append(taken)
        return int(taken.nbytes)

    def _items(self, data: np.ndarray) -> int:
        elements = [v if isinstance(v, bytes) else str(v).encode() for v in data.ravel()]
        self.items.append(elements)
        return sum(map(len, elements)) + 8 * len(elements)

    def values_array(self, count: int) -> pa.Array:
        """The entries' values, one list per entry of `count` (null where an entry lacks it)."""
        if self.dtype == object:
            flat = pa.array([v for entry in self.items for v in entry], pa.binary())
        elif self.chunks:
            flat = pa.array(np.concatenate([chunk.ravel() for chunk in self.chunks]))
        else:
            flat = pa.array(np.empty(0, self.dtype))
        return pa.LargeListArray.from_arrays(
            pa.array(self._offsets(self._sizes(), count)), flat, mask=self._gaps(count)
        )

    def shapes_array(self, count: int) -> pa.Array:
        offsets = pa.array(self._offsets(np.frombuffer(self.ranks, np.int64), count).astype(np.int32))
        return pa.ListArray.from_arrays(offsets, pa.array(np.frombuffer(self.dims, np.int64)), mask=self._gaps(count))

    def _offsets(self, per_entry: np.ndarray, count: int) -> np.ndarray:
        """List offsets over all `count` entries, an entry that lacks the tensor holding none."""
        placed = np.zeros(count, np.int64)
        placed[np.frombuffer(self.rows, np.int64)] = per_entry
        return np.concatenate([[0], np.cumsum(placed)])

    def _gaps(self, count: int) -> pa.Array | None:
        """The entries that lack the tensor (a failed request's outputs), as a null mask; None when none does."""
        if len(self.rows) == count:
            return None
        absent = np.ones(count, bool)
        absent[np.frombuffer(self.rows, np.int64)] = False
        return pa.array(absent)

    def _sizes(self) -> np.ndarray:
        """Elements per entry, from the shapes (one rank for all, nearly always: one product over a matrix)."""
        ranks, dims = np.frombuffer(self.ranks, np.int64), np.frombuffer(self.dims, np.int64)
        if len(ranks) and (ranks == ranks[0]).all():
            return np.asarray(dims.reshape(len(ranks), int(ranks[0])).prod(axis=1), np.int64)
        ends = np.cumsum(ranks)
        return np.array([dims[end - rank : end].prod() for rank, end in zip(ranks, ends, strict=True)], np.int64)


class Columns:
    """One (model, version)'s entries since the writer last took them, column by column."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.ids: list[str] = []
        self.called: list[str] = []
        self.times = array.array("q")
        self.latencies = array.array("q")
        self.failures: list[tuple[int, str, str]] = []  # (row, outcome, error)
        self.inputs: dict[str, _Tensor] = {}  # by tensor name: no column name built on the request path
        self.outputs: dict[str, _Tensor] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, called: str, request_id: str | None, inputs: Sequence[Named], outputs: Sequence[Named] | None,
            time_ns: int, latency_ns: int, error: BaseException | None) -> int:  # fmt: skip
        """Append one entry; its size in bytes, for the buffer's bound."""
        row = len(self.ids)
        self.ids.append(request_id or "")
        self.called.append(called)
        self.times.append(time_ns)
        self.latencies.append(latency_ns)
        if error is not None:
            self.failures.append((row, type(error).__name__, str(error)))
        size = OVERHEAD_BYTES
        for columns, side in ((self.inputs, inputs), (self.outputs, outputs or ())):
            for tensor in side:
                size += _column(columns, tensor.name, tensor.data).add(row, tensor.data)
        return size

    def add_batch(self, entries: Sequence[Logged], batch_rows: int, inputs: Mapping[str, np.ndarray],
                  outputs: Mapping[str, np.ndarray], time_ns: int) -> int:  # fmt: skip
        """Append the logged requests of one batch, `(first row, rows, name called, id, latency ns)` each, with the
        batch's tensors; their size in bytes, for the buffer's bound."""
        first, count = len(self.ids), len(entries)
        starts, rows, called, ids, latencies = zip(*entries, strict=True)  # a column each, not a loop of appends
        self.ids.extend([i or "" for i in ids])
        self.called.extend(called)
        self.times.extend([time_ns] * count)
        self.latencies.extend(latencies)
        spans = list(zip(starts, rows, strict=True))
        size = OVERHEAD_BYTES * count
        for columns, side in ((self.inputs, inputs), (self.outputs, outputs)):
            for name, data in side.items():
                size += _column(columns, name, data).add_rows(first, spans, batch_rows, data)
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
            "time": pa.array(np.frombuffer(self.times, np.int64), pa.timestamp("ns", tz="UTC")),
            "model": _repeat(model, count) if same else pa.array([c.partition("@")[0] for c in self.called]),
            "version": _repeat(self.version, count),
            "alias": _repeat(alias, count) if same else pa.array([c.partition("@")[2] for c in self.called]),
            "latency_us": pa.array(np.frombuffer(self.latencies, np.int64) / 1000),
            "outcome": pa.array(outcome, pa.string()) if self.failures else _repeat("ok", count),
            "error": pa.array(error, pa.string()) if self.failures else _repeat("", count),
        }
        for prefix, side in ((INPUT, self.inputs), (OUTPUT, self.outputs)):
            for name in sorted(side):
                columns[prefix + name] = side[name].values_array(count)
                columns[prefix + name + SHAPE] = side[name].shapes_array(count)
        return pa.table(columns)


def _column(columns: dict[str, _Tensor], name: str, data: np.ndarray) -> _Tensor:
    """The tensor's column, begun with its first entry's dtype."""
    found = columns.get(name)
    if found is None:
        found = columns[name] = _Tensor(data.dtype)
    return found


def _repeat(value: str, count: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), count)


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
