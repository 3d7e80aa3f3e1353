"""The server's side of the traffic log: records taken on the request path, written by a thread of their own.

A sampled request is logged by the batch that answers it (`record_batch`, called by the batcher): its rows of the
batch's tensors and a few numbers appended to a buffer bounded in bytes; when the buffer is full the entry is
dropped and counted, so inference never waits for a disk. A failed request is logged by the data plane (`record`).
A writer thread, asleep while nothing comes, writes when `flush_bytes` (1 MiB) have come or `flush_s` (2 s) after
the first of them, whichever is sooner: one Arrow table per model version and day, appended to that partition's
open Parquet file,
`URL/model=NAME/version=V/date=YYYY-MM-DD/WORKER-START-N.parquet`. A file
is written under a hidden temporary name and renamed when it is closed (at `file_bytes`, after `file_s`, or when
the server stops), so a reader never sees half a file. Each worker writes its own files. `close()` writes out
everything sampled: a clean stop loses nothing.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse
from modelyard.traffic.records import Columns, Logged
from modelyard.traffic.sampling import Sampler

log = logging.getLogger("modelyard.traffic")
REPEATED = ["model", "version", "alias", "outcome", "error"]


NS_PER_DAY = 86_400 * 1_000_000_000
SINK_BYTES = 1 << 20


@dataclass
class Rotation:
    """When an open file is closed and a new one begun. Pure, the clock passed in."""

    file_bytes: int = 32 << 20
    file_s: float = 60.0

    def due(self, opened_at: float, size: int, now: float) -> bool:
        return size >= self.file_bytes or now - opened_at >= self.file_s


def parquet_writer(file: Any, schema: pa.Schema) -> pq.ParquetWriter:
    """Dictionaries for the columns that repeat, statistics for the time that windows filter on: a dictionary
    tried on random tensor values cost 9 of every 10 ms a write took (44 ms for 9,000 W1 rows, now 4.7)."""
    return pq.ParquetWriter(file, schema, use_dictionary=REPEATED, write_statistics=["time"])


class _OpenFile:
    """A Parquet file being written, through a buffer of Arrow's own in front of the fsspec file: the writer thread
    writes a table without taking the interpreter's lock, where 38 writes a table to the Python file took it 38
    times from the busy event loop (docs/measurements.md, "The traffic log")."""

    def __init__(self, fs: Any, folder: str, name: str, schema: pa.Schema, now: float) -> None:
        self.fs, self.final, self.temporary = fs, f"{folder}/{name}", f"{folder}/.{name}.tmp"
        fs.makedirs(folder, exist_ok=True)
        self.file = fs.open(self.temporary, "wb")
        self.sink = pa.output_stream(self.file, buffer_size=SINK_BYTES)
        self.writer = parquet_writer(self.sink, schema)
        self.schema, self.opened_at, self.rows = schema, now, 0

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)
        self.rows += table.num_rows

    @property
    def size(self) -> int:
        return int(self.sink.tell())

    def close(self) -> None:
        self.writer.close()
        self.sink.close()  # writes out the buffer and closes the file under it
        if not self.file.closed:
            self.file.close()
        self.fs.mv(self.temporary, self.final)


class TrafficLog:
    def __init__(
        self,
        url: str,
        sampler: Sampler,
        buffer_bytes: int = 64 << 20,
        rotation: Rotation | None = None,
        worker: str = "0",
        flush_bytes: int = 1 << 20,
        flush_s: float = 2.0,
    ) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.sampler = sampler
        self.buffer_bytes = buffer_bytes
        self.rotation = rotation or Rotation()
        self.worker = worker
        self.flush_bytes, self.flush_s = flush_bytes, flush_s
        self.logged = 0  # written to files
        self.dropped = 0  # refused: the buffer was full
        self._batches: dict[tuple[str, str], Columns] = {}  # (model, version) -> what came since the last flush
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pending = threading.Event()  # something came since the last flush
        self._due = threading.Event()  # `flush_bytes` came
        self._files: dict[tuple[str, str, str], _OpenFile] = {}
        self._started = time.time_ns()
        self._sequence = 0
        self._thread: threading.Thread | None = None

    # -- the request path ------------------------------------------------------------------------------------------

    def sampled(self, request: InferRequest) -> bool:
        return self.sampler.keep(request.parameters)

    def record(
        self,
        called: str,
        version: str,
        request: InferRequest,
        response: InferResponse | None,
        latency_ns: int,
        error: BaseException | None = None,
        at_ns: int | None = None,
    ) -> None:
        """`called`: the name the caller used (`fraud@production`); `response` None when the request failed;
        `at_ns`: when it was answered, if not now (a shadow's process logs production's answers)."""
        outputs = response.outputs if response is not None else None
        at = time.time_ns() if at_ns is None else at_ns
        with self._lock:
            batch = self._admit(called, version, 1)
            if batch is not None:
                self._queue(batch.add(called, request.id, request.inputs, outputs, at, latency_ns, error))

    def record_batch(self, version: str, entries: Sequence[Logged], batch_rows: int, inputs: Mapping[str, np.ndarray],
                     outputs: Mapping[str, np.ndarray]) -> None:  # fmt: skip
        """The sampled requests of one batch that answered (`Batcher(log=...)`), with the batch's tensors, on the
        thread that ran it: `(first row, rows, name called, request id, latency ns)` each."""
        with self._lock:
            batch = self._admit(entries[0][2], version, len(entries))
            if batch is not None:
                self._queue(batch.add_batch(entries, batch_rows, inputs, outputs, time.time_ns()))

    def _admit(self, called: str, version: str, count: int) -> Columns | None:
        """Under the lock: the columns that `count` entries of the version go to, or None when the buffer is full
        (they are dropped and counted). Wakes the writer, which sleeps while there is nothing to write."""
        if self._queued_bytes >= self.buffer_bytes:
            self.dropped += count
            return None
        if not self._batches:
            self._pending.set()  # the writer takes what came under this lock: it never sees half an entry
        key = (called.partition("@")[0], version)
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = Columns(version)
        return batch

    def _queue(self, size: int) -> None:
        """Under the lock: `size` bytes more wait for the writer, woken once they reach a flush's worth."""
        self._queued_bytes += size
        if self._queued_bytes >= self.flush_bytes and not self._due.is_set():
            self._due.set()

    # -- the writer thread -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Called while the server starts, before it freezes its heap (`server/process/memory.settle_heap`)."""
        warm_up()
        self._thread = threading.Thread(target=self._run, name="modelyard-traffic", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write out everything sampled and close the files (renamed into place)."""
        self._stop.set()
        self._pending.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join()
        else:
            self.flush(time.time())
        self._close_files(lambda _: True)

    def _run(self) -> None:
        """Asleep until a record comes (or a file is due to close); then up to a flush's worth is gathered and
        written. A flush costs the server much the same whatever it holds: at `--log-sample 0.1` (W1 c=64),
        flushing every 0.25 s cost 0.948x of throughput against 0.988x every 2 s, three servers each
        (docs/measurements.md, "The traffic log"). The bound in bytes keeps each flush short where traffic is
        heavy, since a table is built holding the interpreter's lock (a second's worth at 9,000 requests/s,
        built at once, stalled the event loop for tens of ms and tripled p99)."""
        while not self._stop.is_set():
            self._pending.wait(timeout=self.rotation.file_s)
            self._due.wait(self.flush_s)
            if self._stop.is_set():
                break
            self._pending.clear()
            self._due.clear()
            self._guarded(time.time())
        self._guarded(time.time())

    def _guarded(self, now: float) -> None:
        try:
            self.flush(now)
        except Exception:  # a full disk or a lost bucket must not end the thread: what it held is counted dropped
            log.exception("could not write the traffic log under %s", self.root)

    def flush(self, now: float) -> None:
        """Write what came since the last flush; close the files that are due."""
        with self._lock:
            batches, self._batches, self._queued_bytes = self._batches, {}, 0
        for (model, version), batch in batches.items():
            table = batch.table()
            for day, part in _by_day(table):
                try:
                    self._write((model, version, day), part, now)
                except Exception:
                    self.dropped += part.num_rows
                    raise
                self.logged += part.num_rows
        self._close_files(lambda f: self.rotation.due(f.opened_at, f.size, now))

    def _write(self, key: tuple[str, str, str], table: pa.Table, now: float) -> None:
        current = self._files.get(key)
        if current is not None and not current.schema.equals(table.schema):
            self._close(key)  # a request with other tensors (an optional input): a file of its own
            current = None
        if current is None:
            model, version, day = key
            folder = f"{self.root}/model={model}/version={version}/date={day}"
            self._sequence += 1
            name = f"{self.worker}-{self._started}-{self._sequence}.parquet"
            current = self._files[key] = _OpenFile(self.fs, folder, name, table.schema, now)
        current.write(table)

    def _close_files(self, due: Any) -> None:
        for key in [k for k, f in self._files.items() if due(f)]:
            self._close(key)

    def _close(self, key: tuple[str, str, str]) -> None:
        opened = self._files.pop(key)
        with contextlib.suppress(Exception):
            opened.close()


def warm_up() -> None:
    """Build and write one entry in memory while the server starts, so that whatever a flush imports is imported
    then. pyarrow imports pandas, where installed, on its first conversion (34,000 objects, 50 MiB). Imported by
    the first flush, on the writer's thread with the server running, it cost the server 7 % of its throughput at
    W1 c=64 for as long as it ran, though the log had written one table; imported at startup, nothing
    measurable. Not the collector: freezing the heap after the late import left the cost as it was, and the cause
    is not pinned down (docs/measurements.md, "The traffic log")."""
    x = np.zeros((1, 1), np.float32)
    entry = Columns("0")
    entry.add("warm-up", "0", [InferInput("x", "FP32", (1, 1), x)], [InferOutput("y", "FP32", x)], 0, 0, None)
    table = entry.table()
    _by_day(table)
    with parquet_writer(io.BytesIO(), table.schema) as writer:
        writer.write_table(table)


def _by_day(table: pa.Table) -> list[tuple[str, pa.Table]]:
    """The table's rows by UTC day (partitions are by day): nearly always one."""
    days = np.asarray(table.column("time").cast(pa.int64()).to_numpy()) // NS_PER_DAY
    found = np.unique(days)

    def name(day: int) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(int(day) * 86_400))

    if len(found) == 1:
        return [(name(found[0]), table)]
    return [(name(day), table.filter(pa.array(days == day))) for day in found]
