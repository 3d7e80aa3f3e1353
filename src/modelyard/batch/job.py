"""`modelyard batch`: plan the job, check everything that can be checked before any work, then score the parts
that are not done yet, on this machine or on Ray.

Checked first, each a line and nothing changed: the reference resolves; every input file is readable, has a
column for each of the model's inputs (columns.py's rule) of a type it takes, and the kept columns; the output
folder is new, or holds this same job (resumed), never another's; a few rows go through the model.

A job is its digest: the version's package digest, each input's path and content digest, the options that change
the output (kept columns, the column map, the format) and the output folder. The same command run again is the
same job, and finishes it; a job whose inputs changed is another job, and refuses the folder of the first.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from modelyard import columns
from modelyard.batch import inputs as files
from modelyard.batch.output import OutputFolder
from modelyard.batch.scoring import PartResult, Plan, answer, rejected_all, score_part
from modelyard.errors import InvalidArgument, ModelExecutionError, NotFound
from modelyard.manifest import Manifest, read_manifest
from modelyard.packaging.digest import package_digest
from modelyard.server.local import LocalPlane
from modelyard.server.repository.spec import SourceSpec
from modelyard.settings import Settings

if TYPE_CHECKING:
    from modelyard.registry import BatchJob, Registry

ENGINES = ("local", "ray")
FORMATS = ("parquet", "csv", "jsonl")
PROBE_ROWS = 8
BATCH_ROWS = 1024
OFFLINE_INSTANCES = 2
DIGESTS = 4  # input files digested at once
IN_FLIGHT = 2  # batches per model instance in flight: one computing, one queued while the last is written


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


@dataclass(frozen=True)
class Job:
    """Everything the job needs, decided before any work."""

    key: str
    ref: str
    spec: SourceSpec
    manifest: Manifest
    inputs: tuple[files.InputFile, ...]
    parts: tuple[files.Part, ...]
    plans: Mapping[str, Plan]  # by input path: files may lay their columns out differently
    output: str
    format: str
    engine: str
    concurrency: int
    card: Mapping[str, Any] | None = None  # the version's performance card (the Ray engine's pool size)

    def document(self) -> dict[str, Any]:
        return {"job": self.key, "model": self.spec.name, "version": self.spec.version, "ref": self.ref,
                "inputs": [_described(f) for f in self.inputs], "format": self.format,
                "keep": list(next(iter(self.plans.values())).keep), "parts": [p.to_dict() for p in self.parts],
                "status": "running"}  # fmt: skip


def plan(
    ref: str, inputs: Sequence[str], output: str, *, keep: Sequence[str] = (), mapping: Mapping[str, str] | None = None,
    format: str = "parquet", batch_size: int | None = None, engine: str = "local", concurrency: int | None = None,
    name: str | None = None, settings: Settings | None = None, registry: Registry | None = None,
    described: Sequence[Future[files.InputFile]] | None = None,
) -> Job:  # fmt: skip
    """Resolve, read and check everything; nothing is written. `described`: the inputs' descriptions, begun
    already (`run` digests them while the registry opens)."""
    if format not in FORMATS:
        raise InvalidArgument(f"--format {format}: write {', '.join(FORMATS)}")
    if engine not in ENGINES:
        raise InvalidArgument(f"--engine {engine}: run on {' or '.join(ENGINES)}")
    if batch_size is not None and batch_size < 1:
        raise InvalidArgument(f"--batch-size {batch_size}: give at least 1 row")
    if concurrency is not None and concurrency < 1:
        raise InvalidArgument(f"--concurrency {concurrency}: give at least 1")
    spec = _resolve(ref, name, settings or Settings(), registry)
    manifest = read_manifest(Path(spec.package_dir))
    signature = manifest.signature
    clash = sorted(set(keep) & {o.name for o in signature.outputs} | set(keep) & {"input", "row", "error"})
    if clash:
        raise InvalidArgument(f"--keep {clash[0]}: the output has a column of that name already; rename it first")
    found = (
        [f.result() for f in described] if described is not None else [files.describe(p) for p in files.expand(inputs)]
    )
    rows, unbatched, instances, spec = _offline(manifest, batch_size, spec)
    plans: dict[str, Plan] = {}
    for file in found:
        missing = [c for c in keep if c not in file.schema.names]
        if missing:
            raise InvalidArgument(f"--keep {missing[0]}: {file.path} has no column {missing[0]!r} (columns: "
                                  f"{', '.join(file.schema.names)})")  # fmt: skip
        feeds = columns.plan(file.schema, signature.inputs, mapping, exclude=keep, where=file.path)
        plans[file.path] = Plan(signature.inputs, tuple(feeds), tuple(keep), format, rows, IN_FLIGHT * instances,
                                unbatched)  # fmt: skip
    output = output if "://" in output else os.path.abspath(output)
    identity = {"package": package_digest(Path(spec.package_dir))[0], "model": spec.name, "version": spec.version,
                "inputs": [[f.path, f.digest] for f in found], "keep": list(keep), "map": dict(mapping or {}),
                "format": format, "output": output}  # fmt: skip
    key = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    parts = tuple(files.parts(found))
    card = registry.get(f"{spec.name}/{spec.version}").perf_card if registry is not None and spec.followed else None
    return Job(key, ref, spec, manifest, tuple(found), parts, plans, output, format, engine, concurrency or 0, card)


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

                for result in score_on_ray(job, todo, progress):
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


def _offline(manifest: Manifest, batch_size: int | None, spec: SourceSpec) -> tuple[int, bool, int, SourceSpec]:
    """Rows per call, whether the model is called a row at a time, its instances, and the spec to load: the
    package as it is served, tuned for throughput where the package leaves a choice.

    Rows: `--batch-size`, else BATCH_ROWS or the package's max_batch_size if larger (a package's max_batch_size is
    tuned for latency online, 64 for the demo MLP). A size above the package's raises its max_batch_size for this
    job: the manifest requires a variable batch axis then, and a model that fails on larger batches anyway is split
    down to sizes it takes (scoring.py). Requests are whole batches, so the batcher does not wait to gather more.
    A model without a batch axis whose inputs take any number of rows is sent whole batches too; one whose first
    dimension is fixed is called a row at a time.

    Instances and threads, unless the package sets them: two thread instances, so that one computes while the
    other's next batch is handed to it (a handoff costs a third of a millisecond on the VM), sharing the cores but
    one, which the loop feeding the model, the reader and the writer need. Measured on two cores, W1 1M rows: one
    instance of two threads 1.71 s, one of one thread 1.67 s, two of one thread 1.44 to 1.60 s."""
    rows = batch_size or max(BATCH_ROWS, manifest.max_batch_size)
    if manifest.max_batch_size == 0:
        batched = all(i.shape and i.shape[0] == -1 for i in manifest.signature.inputs)
        return rows, not batched, manifest.instances.count, spec
    overrides: dict[str, Any] = {**spec.overrides, "batching": {"max_queue_delay_us": 0}}
    count = manifest.instances.count
    if count == 1 and manifest.instances.kind == "thread" and "instances" not in spec.overrides:
        count = OFFLINE_INSTANCES
        overrides["instances"] = {**manifest.instances.model_dump(), "count": count}
    if not manifest.runtime.intra_op_threads:
        threads = max(1, ((os.cpu_count() or 1) - 1) // count)
        overrides["runtime"] = {**overrides.get("runtime", {}), "intra_op_threads": threads}
    if rows > manifest.max_batch_size:
        overrides["max_batch_size"] = rows
    return rows, False, count, spec.model_copy(update={"overrides": overrides})


def _resolve(ref: str, name: str | None, settings: Settings, registry: Registry | None) -> SourceSpec:
    from modelyard.server.repository.sources import SourceResolver

    specs, _ = SourceResolver(settings.home_dir / "cache", registry).resolve([ref], name=name)
    if len(specs) != 1:
        raise InvalidArgument(f"{ref}: names {len(specs)} models; a batch job scores with one (name a version)")
    return specs[0]


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
                    inputs=tuple(_described(f) for f in job.inputs), output=job.output, status="running",
                    rows=0, scored=0, errors=0, engine=job.engine, detail=detail, actor="", started=started,
                    finished=None)  # fmt: skip


def _stopped(record: BatchJob, status: str, done: Mapping[int, Mapping[str, Any]],
             detail: Mapping[str, Any]) -> BatchJob:  # fmt: skip
    counts = _counts(done)
    return replace(record, status=status, rows=counts["rows"], scored=counts["scored"], errors=counts["errors"],
                   detail=detail, finished=datetime.now(UTC))  # fmt: skip


def _described(file: files.InputFile) -> dict[str, Any]:
    return {"path": file.path, "digest": file.digest, "bytes": file.bytes, "rows": file.rows}


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
