"""What a batch job is, decided before any work: the version to load (tuned for throughput), the input files and
their parts, the columns feeding each input, and the job's digest.

Checked here, each a line and nothing changed: the reference resolves; every input file is readable, has a
column for each of the model's inputs (columns.py's rule) of a type it takes, and the kept columns.

A job is its digest: the version's package digest, each input's path and content digest, the options that change
the output (kept columns, the column map, the format) and the output folder. The same command run again is the
same job, and finishes it; a job whose inputs changed is another job, and refuses the folder of the first.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelyard import columns
from modelyard.batch import inputs as files
from modelyard.batch.scoring import Plan
from modelyard.errors import InvalidArgument
from modelyard.manifest import Manifest, read_manifest
from modelyard.packaging.digest import package_digest
from modelyard.server.repository.spec import SourceSpec
from modelyard.settings import Settings

if TYPE_CHECKING:
    from modelyard.registry import Registry

ENGINES = ("local", "ray")
FORMATS = ("parquet", "csv", "jsonl")
BATCH_ROWS = 1024
OFFLINE_INSTANCES = 2
IN_FLIGHT = 2  # batches per model instance in flight: one computing, one queued while the last is written


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
                "inputs": [described(f) for f in self.inputs], "format": self.format,
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
    rows, unbatched, instances, spec = offline(manifest, batch_size, spec)
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


def offline(manifest: Manifest, batch_size: int | None, spec: SourceSpec) -> tuple[int, bool, int, SourceSpec]:
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


def described(file: files.InputFile) -> dict[str, Any]:
    return {"path": file.path, "digest": file.digest, "bytes": file.bytes, "rows": file.rows}
