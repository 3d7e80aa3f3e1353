"""One part through the data plane: batches read in order, a few in flight at once (the model's instances work
while the next batch is read and the last one written), each answered or split until the rows that fail are found.

A batch the model rejects (bad input, or the model raised) is halved, and each half tried again, until the failing
rows stand alone: k bad rows in a batch of n cost about 2k·log2(n) extra calls, and the good rows around them are
scored as usual. Errors of the server itself (out of memory, unavailable) are not a row's fault: they stop the job,
and the part is redone on the next run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from modelyard import columns
from modelyard.batch.inputs import READ_BYTES, Part, read
from modelyard.batch.output import ERRORS, OutputFolder, PartWriter, part_name
from modelyard.errors import InvalidArgument, ModelExecutionError, ModelyardError
from modelyard.protocol.types import InferResponse
from modelyard.signature import TensorSpec

ROW_ERRORS = (InvalidArgument, ModelExecutionError)  # a row's fault: split the batch; anything else stops the job
Call = Callable[[dict[str, np.ndarray]], Any]  # inputs → awaitable InferResponse


@dataclass(frozen=True)
class Plan:
    """What every part of a job shares."""

    inputs: tuple[TensorSpec, ...]
    feeds: tuple[columns.Feed, ...]
    keep: tuple[str, ...]
    format: str
    batch_rows: int
    in_flight: int
    unbatched: bool = False  # the model takes no batch axis: one call per row, without the row axis


@dataclass
class Answer:
    """A batch's answer: the outputs of the rows that succeeded (in order) and the error of each row that failed."""

    ok: np.ndarray  # a row mask
    outputs: list[dict[str, np.ndarray]] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)


@dataclass
class PartResult:
    index: int
    rows: int
    scored: int
    errors: int
    seconds: float
    first_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "rows": self.rows, "scored": self.scored, "errors": self.errors,
                "seconds": round(self.seconds, 3), "first_error": self.first_error}  # fmt: skip


async def answer(call: Call, arrays: dict[str, np.ndarray], rows: int, unbatched: bool = False) -> Answer:
    """The batch's outputs, split around the rows that fail."""
    found = Answer(np.zeros(rows, dtype=bool))
    await _split(call, arrays, 0, rows, found, unbatched)
    return found


async def _split(call: Call, arrays: dict[str, np.ndarray], start: int, stop: int, found: Answer,
                 unbatched: bool) -> None:  # fmt: skip
    if unbatched:
        for row in range(start, stop):
            await _try(call, {n: a[row] for n, a in arrays.items()}, row, row + 1, found, expand=True)
        return
    sliced = {n: a[start:stop] for n, a in arrays.items()} if (start, stop) != (0, _rows(arrays)) else arrays
    if not await _try(call, sliced, start, stop, found) and stop - start > 1:
        middle = (start + stop) // 2
        await _split(call, arrays, start, middle, found, unbatched)
        await _split(call, arrays, middle, stop, found, unbatched)


async def _try(call: Call, arrays: dict[str, np.ndarray], start: int, stop: int, found: Answer,
               expand: bool = False) -> bool:  # fmt: skip
    try:
        response: InferResponse = await call(arrays)
    except ROW_ERRORS as exc:
        if stop - start == 1:
            found.errors[start] = _one_line(exc)
        return False
    outputs = {o.name: (o.data[None] if expand else o.data) for o in response.outputs}
    found.ok[start:stop] = True
    found.outputs.append(outputs)
    return True


async def _nothing() -> Answer:
    return Answer(np.zeros(0, dtype=bool))


def _rows(arrays: dict[str, np.ndarray]) -> int:
    return len(next(iter(arrays.values())))


def _one_line(exc: ModelyardError) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


async def score_part(
    call: Call, part: Part, plan: Plan, folder: OutputFolder, progress: Callable[[int], None] = lambda rows: None
) -> tuple[PartResult, dict[str, str]]:
    """Score the part into temporary files; returns what it did and the files to rename into place (final name →
    temporary path)."""
    start = time.perf_counter()
    results = PartWriter(folder, part_name(part.index, plan.format), plan.format)
    errors = PartWriter(folder, f"{ERRORS}/{part_name(part.index, 'parquet')}", "parquet")
    result = PartResult(part.index, 0, 0, 0, 0.0)
    pending: deque[tuple[pa.RecordBatch, int, np.ndarray, asyncio.Task[Answer]]] = deque()
    row = part.first_row
    try:
        async with aclosing(_prefetched(part, plan)) as batches:
            async for batch, absent, given, arrays in batches:
                task = asyncio.ensure_future(
                    answer(call, arrays, given.num_rows, plan.unbatched) if given.num_rows else _nothing()
                )
                pending.append((batch, row, absent, task))
                row += batch.num_rows
                if len(pending) >= plan.in_flight:
                    await asyncio.wait([pending[0][3]])
                while pending and pending[0][3].done():
                    _write(*pending.popleft(), plan, results, errors, result, progress, part.path)
        while pending:
            await asyncio.wait([pending[0][3]])
            _write(*pending.popleft(), plan, results, errors, result, progress, part.path)
    except BaseException:
        for *_, task in pending:
            task.cancel()
        raise
    finally:
        results.close()
        errors.close()
    result.seconds = time.perf_counter() - start
    files = {}
    if results.rows:
        files[part_name(part.index, plan.format)] = results.path
    if errors.rows:
        files[f"{ERRORS}/{part_name(part.index, 'parquet')}"] = errors.path
    return result, files


Prepared = tuple[pa.RecordBatch, np.ndarray, pa.RecordBatch, dict[str, np.ndarray]]
PREFETCH, MAX_PREFETCH = 4, 256  # batches read ahead, at least and at most


async def _prefetched(part: Part, plan: Plan) -> AsyncGenerator[Prepared, None]:
    """The part's batches, read, checked for nulls and turned into the inputs' arrays on a thread of their own:
    pyarrow decodes without the interpreter's lock, so reading overlaps the loop's work and the model's. The
    reader may run two decodes ahead: with four batches of room, the loop waited for each 65,536-row decode of W1
    (0.18 s of 1.7 s, a model that only slept)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[Prepared | BaseException | None] = asyncio.Queue()
    room = threading.Semaphore(PREFETCH)  # the reader waits for room, never for the loop; more room below
    stop = threading.Event()

    def put(item: Prepared | BaseException | None) -> None:
        loop.call_soon_threadsafe(ready.put_nowait, item)

    def produce() -> None:
        try:
            for i, batch in enumerate(read(part, plan.batch_rows)):
                if i == 0:  # room for two of the reader's decodes: it decodes READ_BYTES at once, then slices
                    for _ in range(max(0, min(MAX_PREFETCH, 2 * READ_BYTES // max(1, batch.nbytes)) - PREFETCH)):
                        room.release()
                while not room.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                absent = columns.missing(batch, plan.feeds)
                given = batch.filter(pa.array(~absent)) if absent.any() else batch
                put((batch, absent, given, columns.gather(given, plan.feeds, plan.inputs) if given.num_rows else {}))
            put(None)
        except BaseException as exc:  # the loop raises it where the batch would have been
            put(exc)

    reader = threading.Thread(target=produce, name=f"modelyard-read-{part.index}", daemon=True)
    reader.start()
    try:
        while (item := await ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            room.release()
            yield item
    finally:
        stop.set()
        await asyncio.to_thread(reader.join)


def _write(batch: pa.RecordBatch, first_row: int, absent: np.ndarray, task: asyncio.Task[Answer], plan: Plan,
           results: PartWriter, errors: PartWriter, result: PartResult, progress: Callable[[int], None],
           source: str) -> None:  # fmt: skip
    """Write one answered batch: its scored rows to the results, its failed (or incomplete) rows to the errors."""
    if not task.done():
        raise RuntimeError("a batch was written before it was answered")
    found = task.result()
    given = np.flatnonzero(~absent)
    ok = np.zeros(batch.num_rows, dtype=bool)
    ok[given[found.ok]] = True
    reasons = {int(given[i]): message for i, message in found.errors.items()}
    reasons.update({int(i): "an input is missing (null)" for i in np.flatnonzero(absent)})
    if ok.any():
        outputs = found.outputs[0] if len(found.outputs) == 1 else \
            {n: np.concatenate([o[n] for o in found.outputs]) for n in found.outputs[0]}  # fmt: skip
        scored = batch if ok.all() else batch.filter(pa.array(ok))
        results.write_scored(scored.select(list(plan.keep)) if plan.keep else None, outputs, int(ok.sum()))
    if reasons:
        failed = np.array(sorted(reasons))
        kept = batch.take(pa.array(failed)).select(list(plan.keep))
        table = pa.table({**{n: kept.column(n) for n in plan.keep},
                          "input": pa.array([source] * len(failed)),
                          "row": pa.array(failed + first_row, type=pa.int64()),
                          "error": pa.array([reasons[int(i)] for i in failed])})  # fmt: skip
        errors.write(table)
        result.first_error = result.first_error or reasons[int(failed[0])]
    result.rows += batch.num_rows
    result.scored += int(ok.sum())
    result.errors += len(reasons)
    progress(batch.num_rows)


def rejected_all(found: Answer) -> str | None:
    """The error when every row of a probe failed alike (the model cannot take these inputs at all)."""
    if found.ok.any() or not found.errors:
        return None
    messages: Sequence[str] = list(found.errors.values())
    return messages[0] if len(set(messages)) == 1 else None
