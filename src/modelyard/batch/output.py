"""The output folder: parts written under a temporary name and renamed, and a record of what is done.

    DIR/_job.json               the job: its digest, version, inputs, parts; written once, then its status
    DIR/part-00003.parquet      the predictions of part 3 (kept columns, then outputs), in input order
    DIR/errors/part-00003.parquet   its rows the model rejected: kept columns, input, row, error
    DIR/_done/part-00003.json   written last: part 3 is done (rows, scored, errors)
    DIR/_tmp/                   what is being written; emptied when a job starts

A part's files are renamed into place before its `_done` marker is written, and their names depend only on the
part. Killed at any moment, a part is either marked done with both files whole, or not marked and redone, its
files replaced: no row is lost and none is written twice. Readers that skip names starting with `_` (pyarrow's
datasets, Spark) never see a half-written file.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import fsspec
import numpy as np
import orjson
import pyarrow as pa

from modelyard.errors import InvalidArgument, StorageError

JOB = "_job.json"
DONE = "_done"
TMP = "_tmp"
ERRORS = "errors"
SUFFIX = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}
GROUP_ROWS = 65_536


def part_name(index: int, format_: str) -> str:
    return f"part-{index:05d}.{SUFFIX[format_]}"


class OutputFolder:
    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = fsspec.url_to_fs(url)

    def path(self, *names: str) -> str:
        return "/".join([self.root.rstrip("/"), *names])

    def job(self) -> dict[str, Any] | None:
        """The job whose output this folder holds, or None for a new (or empty) folder."""
        if not self.fs.exists(self.path(JOB)):
            if self.fs.isdir(self.root) and self.fs.ls(self.root):
                return {"job": None}
            return None
        try:
            with self.fs.open(self.path(JOB), "rb") as f:
                found: dict[str, Any] = orjson.loads(f.read())
                return found
        except (orjson.JSONDecodeError, OSError) as exc:
            raise InvalidArgument(
                f"--output {self.url}: its {JOB} is unreadable ({exc}); --overwrite replaces it"
            ) from None

    def start(self, job: Mapping[str, Any], overwrite: bool) -> None:
        """Make the folder ready: emptied first with `overwrite`; what a killed run left half-written removed."""
        try:
            if overwrite and self.fs.exists(self.root):
                for entry in self.fs.ls(self.root, detail=False):
                    self.fs.rm(entry, recursive=True)
            for folder in (self.root, self.path(DONE), self.path(ERRORS), self.path(TMP)):
                self.fs.makedirs(folder, exist_ok=True)
            for stale in self.fs.ls(self.path(TMP), detail=False):
                self.fs.rm(stale, recursive=True)
            if not self.fs.exists(self.path(JOB)):
                self.write_job(job)
        except OSError as exc:
            raise StorageError(f"--output {self.url}: {exc.strerror or exc}") from None

    def write_job(self, job: Mapping[str, Any]) -> None:
        self.put(JOB, orjson.dumps(job, option=orjson.OPT_INDENT_2))

    def done(self) -> dict[int, dict[str, Any]]:
        """The parts marked done, by index."""
        found: dict[int, dict[str, Any]] = {}
        if not self.fs.exists(self.path(DONE)):
            return found
        for entry in self.fs.ls(self.path(DONE), detail=False):
            with self.fs.open(entry, "rb") as f:
                record = orjson.loads(f.read())
            found[int(record["index"])] = record
        return found

    def temporary(self, name: str) -> str:
        return self.path(TMP, name)

    def commit(self, index: int, files: Mapping[str, str], record: Mapping[str, Any]) -> None:
        """Rename the part's files (temporary path → final name) into place, errors first, then mark it done."""
        for final in sorted(files, key=lambda f: not f.startswith(ERRORS)):
            self.fs.mv(files[final], self.path(final))
        self.put(f"{DONE}/part-{index:05d}.json", orjson.dumps(record))

    def put(self, name: str, data: bytes) -> None:
        """Write a small file whole: under a temporary name, then renamed."""
        temporary = self.path(TMP, name.replace("/", "_") + ".writing")
        with self.fs.open(temporary, "wb") as f:
            f.write(data)
        self.fs.mv(temporary, self.path(name))


class PartWriter:
    """Rows of one part in one format, streamed to a temporary file of the output folder, opened at the first
    rows (a part without errors leaves no errors file)."""

    def __init__(self, folder: OutputFolder, name: str, format_: str) -> None:
        self.format = format_
        self.folder = folder
        self.path = folder.temporary(name.replace("/", "_"))
        self.handle: Any = None
        self.writer: Any = None
        self.rows = 0
        self.buffered: list[pa.Table] = []
        self.scored: list[tuple[pa.RecordBatch | None, Mapping[str, np.ndarray]]] = []
        self.buffered_rows = 0

    def write(self, table: pa.Table) -> None:
        """Gathered to GROUP_ROWS rows a write: a Parquet row group per 1,024-row batch made files slow to write
        and to read."""
        self.buffered.append(table)
        self._added(table.num_rows)

    def write_scored(self, kept: pa.RecordBatch | None, outputs: Mapping[str, np.ndarray], rows: int) -> None:
        """A batch's kept columns and outputs, made a table only at the flush: building a table per 1,024-row
        batch cost the loop a third of a millisecond a batch (W1), more than the model's handoff."""
        self.scored.append((kept, outputs))
        self._added(rows)

    def _added(self, rows: int) -> None:
        self.buffered_rows += rows
        self.rows += rows
        if self.buffered_rows >= GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        tables = self.buffered
        if self.scored:
            tables = [self._scored_table()]
        if not tables:
            return
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        self.buffered, self.scored, self.buffered_rows = [], [], 0
        self._write(table)

    def _scored_table(self) -> pa.Table:
        from modelyard.columns import output_columns

        kept = [k for k, _ in self.scored if k is not None]
        names = list(self.scored[0][1])
        outputs = {n: np.concatenate([o[n] for _, o in self.scored]) for n in names}
        columns: dict[str, Any] = {}
        if kept:
            joined = pa.Table.from_batches(kept)
            columns.update({n: joined.column(n) for n in joined.column_names})
        columns.update(output_columns(outputs, flat=self.format == "csv"))
        return pa.table(columns)

    def _write(self, table: pa.Table) -> None:
        if self.handle is None:
            self.handle = self.folder.fs.open(self.path, "wb")
        if self.format == "parquet":
            import pyarrow.parquet as pq

            if self.writer is None:
                self.writer = pq.ParquetWriter(self.handle, table.schema)
            self.writer.write_table(table)
        elif self.format == "csv":
            import pyarrow.csv

            if self.writer is None:
                self.writer = pyarrow.csv.CSVWriter(self.handle, table.schema)
            self.writer.write_table(table)
        else:
            buffer = io.BytesIO()
            for row in table.to_pylist():
                buffer.write(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE))
            self.handle.write(buffer.getvalue())

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()
        if self.handle is not None:
            self.handle.close()


def read_part(folder: OutputFolder, name: str) -> pa.Table:
    """One written part, whatever its format (what `modelyard.batch.results` reads), on this thread: pyarrow 26's
    threaded readers left threads that aborted the interpreter at its exit, one short run in two ("terminate
    called without an active exception"), and a part is small enough to decode on one."""
    with folder.fs.open(folder.path(name), "rb") as f:
        data = pa.BufferReader(f.read())
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(data, use_threads=False)
    if name.endswith(".csv"):
        import pyarrow.csv

        return pyarrow.csv.read_csv(data, read_options=pyarrow.csv.ReadOptions(use_threads=False))
    import pyarrow.json

    return pyarrow.json.read_json(data, read_options=pyarrow.json.ReadOptions(use_threads=False))
