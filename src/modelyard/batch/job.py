"""`modelyard batch`: plan the job (plan.py), check what only a run can (the output folder is new, or holds this
same job, never another's; a few rows go through the model), then score the parts not done yet, on this machine
or on Ray, and record the job in the registry as it starts and as it stops."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from modelyard import columns
from modelyard.batch import inputs as files
from modelyard.batch.output import OutputFolder
from modelyard.batch.plan import Job, described, plan
from modelyard.batch.scoring import PartResult, answer, rejected_all, score_part
from modelyard.errors import InvalidArgument, ModelExecutionError, NotFound
from modelyard.server.local import LocalPlane
from modelyard.server.repository.spec import SourceSpec
from modelyard.settings import Settings

if TYPE_CHECKING:
    from modelyard.registry import BatchJob, Registry

PROBE_ROWS = 8
DIGESTS = 4  # input files digested at once


class Progress(Protocol):
    def begin(self, total: int | None, done: int) -> None: ...

    def advance(self, rows: int) -> None: ...


class _Silent:
    def begin(self, total: int | None, done: int) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass


@dataclass(frozen=True)
class Summary:
    job: str
    output: str
    model: str
    version: str
    rows: int  # rows of the whole job
    scored: int
    errors: int
    seconds: float  # this run's
    parts: int
    resumed: int  # parts already done before this run
    status: str  # done | already done
    this_run: int = 0  # rows read by this run
    first_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rows_per_s": round(self.rows_per_s, 1)}

    @property
    def rows_per_s(self) -> float:
        """Of this run: a resumed job's rate counts the rows it read, not those an earlier run did."""
        return self.this_run / self.seconds if self.seconds > 0 else 0.0


def run(
    ref: str, inputs: Sequence[str], output: str, *, keep: Sequence[str] = (), mapping: Mapping[str, str] | None = None,
    format: str = "parquet", batch_size: int | None = None, overwrite: bool = False, engine: str = "local",
    concurrency: int | None = None, max_errors: int | None = None, name: str | None = None,
    settings: Settings | None = None, registry: Registry | None = None, progress: Progress | None = None,
) -> Summary:  # fmt: skip
    """Score `inputs` with `ref` into the folder `output`, finishing what an earlier run of the same job left;
    `max_errors`: stop once more rows than this failed (None: never)."""
    settings = settings or Settings()
    paths = files.expand(inputs)
    with ThreadPoolExecutor(max_workers=DIGESTS, thread_name_prefix="modelyard-digest") as digests:
        # hashing releases the interpreter's lock: the inputs' digests (a pass over each file) overlap opening the
        # registry and resolving the model (W2, 950 MiB: 0.84 s of planning, most of it hidden)
        described = [digests.submit(files.describe, p) for p in paths]
        own = registry is None
        registry = registry or _registry(settings)
        try:
            job = plan(ref, inputs, output, keep=keep, mapping=mapping, format=format, batch_size=batch_size,
                       engine=engine, concurrency=concurrency, name=name, settings=settings, registry=registry,
                       described=described)  # fmt: skip
        except BaseException:
            for future in described:
                future.cancel()
            if own:
                registry.close()
            raise
    try:
        return asyncio.run(_run(job, overwrite, max_errors, registry, progress or _Silent()))
    finally:
        if own:
            registry.close()


async def _run(job: Job, overwrite: bool, max_errors: int | None, registry: Registry, progress: Progress) -> Summary:
    folder = OutputFolder(job.output)
    existing = folder.job()
    if existing is not None and existing.get("job") != job.key and not overwrite:
        what = f"another job's output ({existing['model']}/{existing['version']}, job {existing['job']})" \
            if existing.get("job") else "files of something else"  # fmt: skip
        raise InvalidArgument(f"--output {job.output}: holds {what}; choose another folder, or add --overwrite")
    if existing is not None and existing.get("status") == "done" and not overwrite:
        return _summary(job, existing, 0.0, len(job.parts), "already done")
    started = time.perf_counter()
    async with LocalPlane([job.spec]) as plane:
        call = _caller(plane, job.spec)
        await _probe(call, job)
        folder.start(job.document(), overwrite)
        record = registry.save_job(_record(job, _first_start(registry, job.key)))
        done = folder.done()
        todo = [p for p in job.parts if p.index not in done]
        progress.begin(_total(job), sum(int(d["rows"]) for d in done.values()))
        errors = sum(int(d["errors"]) for d in done.values())
        first_error = next((str(d["first_error"]) for d in done.values() if d.get("first_error")), "")
        try:
            if job.engine == "ray":
                from modelyard.batch.ray_engine import score_on_ray

                for result in score_on_ray(job, todo, progress.advance):
                    done[result.index] = result.to_dict()
                    errors += result.errors
                    first_error = first_error or result.first_error
                    _check_errors(errors, max_errors, result)
            else:
                for part in todo:
                    result, written = await score_part(call, part, job.plans[part.path], folder, progress.advance)
                    folder.commit(part.index, written, result.to_dict())
                    done[result.index] = result.to_dict()
                    errors += result.errors
                    first_error = first_error or result.first_error
                    _check_errors(errors, max_errors, result)
        except BaseException as exc:
            stopped = "interrupted" if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError) else "failed"
            registry.save_job(_stopped(record, stopped, done, {**record.detail, "error": _line(exc)}))
            raise
    finished = {**job.document(), "status": "done", **_counts(done)}
    folder.write_job(finished)
    registry.save_job(_stopped(record, "done", done, record.detail))
    summary = _summary(job, finished, time.perf_counter() - started, len(job.parts) - len(todo), "done")
    this_run = sum(int(done[p.index]["rows"]) for p in todo)
    return replace(summary, this_run=this_run, first_error=first_error)


def _caller(plane: LocalPlane, spec: SourceSpec) -> Any:
    async def call(arrays: dict[str, Any]) -> Any:
        return await plane.infer(spec.name, arrays, spec.version)

    return call


async def _probe(call: Any, job: Job) -> None:
    """A few rows of the first part through the model: a model that rejects them all alike cannot take this data
    at all, and says so before any part is written."""
    part = next((p for p in job.parts if p.rows), None)
    if part is None:
        return
    plan_ = job.plans[part.path]
    with closing(files.read(part, PROBE_ROWS)) as batches:
        batch = next(batches, None)
    if batch is None or columns.missing(batch, plan_.feeds).any():
        return
    arrays = columns.gather(batch, plan_.feeds, plan_.inputs)
    reason = rejected_all(await answer(call, arrays, batch.num_rows, plan_.unbatched))
    if reason is not None:
        raise InvalidArgument(f"{part.path}: the model rejects its first {batch.num_rows} rows: {reason}")


def _check_errors(errors: int, max_errors: int | None, result: PartResult) -> None:
    if max_errors is not None and errors > max_errors:
        raise ModelExecutionError(f"{errors} rows failed, more than --max-errors {max_errors} (the first of part "
                                  f"{result.index}: {result.first_error})")  # fmt: skip


def _registry(settings: Settings) -> Registry:
    from modelyard.registry import Registry

    return Registry.from_settings(settings)


def _first_start(registry: Registry, key: str) -> datetime:
    """When the job first started: a resumed job keeps its start."""
    try:
        return registry.job(key).started
    except NotFound:
        return datetime.now(UTC)


def _record(job: Job, started: datetime) -> BatchJob:
    from modelyard.registry import BatchJob

    detail = {"format": job.format, "parts": len(job.parts), "host": socket.gethostname(), "pid": os.getpid(),
              "batch_rows": next(iter(job.plans.values())).batch_rows}  # fmt: skip
    return BatchJob(id=job.key, name=job.spec.name, version=job.spec.version, ref=job.ref,
                    inputs=tuple(described(f) for f in job.inputs), output=job.output, status="running",
                    rows=0, scored=0, errors=0, engine=job.engine, detail=detail, actor="", started=started,
                    finished=None)  # fmt: skip


def _stopped(record: BatchJob, status: str, done: Mapping[int, Mapping[str, Any]],
             detail: Mapping[str, Any]) -> BatchJob:  # fmt: skip
    counts = _counts(done)
    return replace(record, status=status, rows=counts["rows"], scored=counts["scored"], errors=counts["errors"],
                   detail=detail, finished=datetime.now(UTC))  # fmt: skip


def _counts(done: Mapping[int, Mapping[str, Any]]) -> dict[str, int]:
    return {k: sum(int(d[k]) for d in done.values()) for k in ("rows", "scored", "errors")}


def _total(job: Job) -> int | None:
    rows = [p.rows for p in job.parts]
    return None if any(r is None for r in rows) else sum(r or 0 for r in rows)


def _summary(job: Job, document: Mapping[str, Any], seconds: float, resumed: int, status: str) -> Summary:
    return Summary(job=job.key, output=job.output, model=job.spec.name, version=job.spec.version,
                   rows=int(document.get("rows", 0)), scored=int(document.get("scored", 0)),
                   errors=int(document.get("errors", 0)), seconds=seconds, parts=len(job.parts), resumed=resumed,
                   status=status)  # fmt: skip


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
