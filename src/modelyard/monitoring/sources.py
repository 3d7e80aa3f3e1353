"""Where the rows come from: data files streamed in chunks (Parquet by row group, so 10M rows never sit in memory
at once), or the traffic log's windows, as arrays per input and output."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath

import fsspec
import numpy as np
import pyarrow as pa

from modelyard import columns
from modelyard.datafiles import open_for_arrow
from modelyard.errors import InvalidArgument
from modelyard.traffic.reader import arrays
from modelyard.traffic.records import INPUT, OUTPUT

CHUNK_ROWS = 65_536


def table_arrays(table: pa.Table, inputs: Sequence[str] | None, where: str) -> dict[str, np.ndarray]:
    """A table's columns as the model's inputs, by the one rule of `modelyard.columns` (a column named after each
    input, `NAME_0..NAME_k`, or every column for a model of one input). `inputs` None: every column, as its own
    array."""
    if inputs is None:
        return {name: columns.column(table.column(name)) for name in table.column_names}
    return columns.arrays(table, columns.resolve(table.column_names, inputs, where=where))


def chunks(path: str, inputs: Sequence[str] | None = None, rows: int = CHUNK_ROWS) -> Iterator[dict[str, np.ndarray]]:
    """The file's rows, `rows` at a time: `.parquet` streamed, `.csv` and `.npz` read whole."""
    suffix = PurePosixPath(path).suffix.lower()
    try:
        handle = open_for_arrow(path) if suffix in (".parquet", ".pq") else fsspec.open(path, "rb").open()
    except FileNotFoundError:
        raise InvalidArgument(f"{path}: no such file") from None
    with handle:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            try:
                # pre_buffer (the default) read ahead the whole file: 10M rows x 50 peaked at 2.4 GiB and took
                # 9.9 s to stream; without it, one row group at a time, 490 MiB and 1.6 s
                reader = pq.ParquetFile(handle, pre_buffer=False)
                for batch in reader.iter_batches(batch_size=rows):
                    yield table_arrays(pa.Table.from_batches([batch]), inputs, path)
            except pa.ArrowException as exc:
                raise InvalidArgument(f"{path}: not a readable Parquet file: {exc}") from None
        elif suffix == ".csv":
            import pyarrow.csv

            try:
                table = pyarrow.csv.read_csv(io.BytesIO(handle.read()))
            except pa.ArrowException as exc:
                raise InvalidArgument(f"{path}: not a readable CSV file: {exc}") from None
            yield table_arrays(table, inputs, path)
        elif suffix == ".npz":
            with np.load(io.BytesIO(handle.read()), allow_pickle=False) as archive:
                found = {k: archive[k] for k in archive.files if inputs is None or k in inputs}
            missing = [n for n in inputs or () if n not in found]
            if missing:
                raise InvalidArgument(f"{path}: no array for the model's input {missing[0]!r}")
            yield found
        else:
            raise InvalidArgument(f"{path}: read .parquet, .csv or .npz")


def traffic_arrays(table: pa.Table) -> dict[str, np.ndarray]:
    """A traffic window's inputs and outputs (outputs as `output.NAME`), of the requests answered: a failed
    request has no outputs, and drift is about what the model was given and said."""
    import pyarrow.compute as pc

    answered = table.filter(pc.equal(table["outcome"], "ok"))
    found = arrays(answered, INPUT)
    found.update({OUTPUT + name: a for name, a in arrays(answered, OUTPUT).items()})
    return found
