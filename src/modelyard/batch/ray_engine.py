"""`--engine ray`: the same parts, scored by a pool of Ray Data actors, each loading the version once through
modelyard's runtime (the data plane, its instances and batching, as on one machine).

Ray Data's own writers (`write_parquet`) name files by block and task, and a retried task writes again; the job's
exactly-once promise is ours to keep. So Ray schedules *parts* (a dataset of part numbers, one per block), and each
actor scores its part with `scoring.score_part` and commits it to the output folder the same way the local engine
does: files renamed into place, then the `_done` marker. A task Ray retries, or a job run again, redoes a part that
has no marker and replaces its files; the output is the local engine's, row for row.

The package travels in Ray's object store (a tar of the folder), so an actor on another node needs neither the
registry nor the driver's disk; the output folder must be storage every node reaches (a shared path, `s3://...`).
Pool size: `--concurrency`, else the cluster's CPUs over the threads per actor, which is the version's performance
card's `intra_op_threads` when it has one (what `modelyard profile` found best), else 1.
"""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.batch.output import OutputFolder
from modelyard.batch.scoring import PartResult, score_part
from modelyard.errors import MissingDependency

if TYPE_CHECKING:
    from modelyard.batch.inputs import Part
    from modelyard.batch.plan import Job


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingDependency.for_extra("ray", "ray") from None
    return ray


def pool(card: Mapping[str, Any] | None, concurrency: int, cpus: float) -> tuple[int, int]:
    """(actors, threads per actor): `concurrency` actors (0: not given), else as many as the cluster's CPUs feed
    at the card's threads per instance (`modelyard profile`'s best), else at one thread each."""
    config = (card or {}).get("config") or {}
    threads = max(1, int(config.get("intra_op_threads") or 1))
    actors = concurrency or max(1, int(cpus // threads))
    return actors, threads


def score_on_ray(job: Job, todo: Sequence[Part], advance: Callable[[int], None]) -> Iterator[PartResult]:
    """Each part's result as its actor commits it (progress moves a part at a time)."""
    if not todo:
        return
    ray = _ray()
    if not ray.is_initialized():
        start(ray)
    actors, threads = pool(job.card, job.concurrency, float(ray.cluster_resources().get("CPU", 1)))
    actors = min(actors, len(todo))
    package = ray.put(_tar(Path(job.spec.package_dir)))
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    parts = ray.data.from_items([{"index": p.index} for p in todo], override_num_blocks=len(todo))
    scored = parts.map_batches(
        _Scorer, batch_size=1, compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=threads,
        fn_constructor_kwargs={"job": job, "package": package, "threads": threads},
    )  # fmt: skip
    for row in scored.iter_rows():
        result = PartResult(int(row["index"]), int(row["rows"]), int(row["scored"]), int(row["errors"]),
                            float(row["seconds"]), str(row["first_error"]))  # fmt: skip
        advance(result.rows)
        yield result


def start(ray: Any) -> None:
    """Join the cluster RAY_ADDRESS names, or start a Ray instance on this machine bound to 127.0.0.1 and sending
    no usage statistics (a local instance is this process's; nothing of it listens beyond loopback)."""
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, _node_ip_address="127.0.0.1")


def _tar(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(folder, arcname="package")
    return buffer.getvalue()


class _Scorer:
    """One Ray actor: the version loaded once (its package unpacked from the object store), then a part per call."""

    def __init__(self, job: Job, package: Any, threads: int) -> None:
        from modelyard.server.local import LocalPlane

        ray = _ray()
        self.folder = tempfile.mkdtemp(prefix="modelyard-ray-")
        data = package if isinstance(package, bytes) else ray.get(package)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            archive.extractall(self.folder, filter="data")
        # one instance of the card's threads per actor: the pool is sized by the cluster's CPUs over them
        overrides = {
            **job.spec.overrides,
            "runtime": {**job.spec.overrides.get("runtime", {}), "intra_op_threads": threads},
        }
        if "instances" in overrides:
            overrides["instances"] = {**overrides["instances"], "count": 1}
        spec = job.spec.model_copy(update={"package_dir": str(Path(self.folder) / "package"), "overrides": overrides})
        self.job, self.spec = job, spec
        self.parts = {p.index: p for p in job.parts}
        self.output = OutputFolder(job.output)
        self.loop = asyncio.new_event_loop()
        self.plane = LocalPlane([spec])
        self.loop.run_until_complete(self.plane.__aenter__())

    async def _call(self, arrays: dict[str, Any]) -> Any:
        return await self.plane.infer(self.spec.name, arrays, self.spec.version)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {k: [] for k in ("index", "rows", "scored", "errors", "seconds", "first_error")}
        for index in batch["index"]:
            part = self.parts[int(index)]
            coroutine = score_part(self._call, part, self.job.plans[part.path], self.output)
            result, files = self.loop.run_until_complete(coroutine)
            self.output.commit(part.index, files, result.to_dict())
            for key, value in result.to_dict().items():
                found[key].append(value)
        return found
