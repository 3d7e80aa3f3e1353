"""One loaded model version: its runtime instances, its batcher and its statistics."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.datatypes import from_numpy
from modelyard.errors import InvalidArgument
from modelyard.manifest import Manifest, parse_manifest, read_manifest
from modelyard.packaging.builder import package_example
from modelyard.protocol.types import InferOutput, InferRequest, InferResponse
from modelyard.runtimes import Runtime, load_runtime
from modelyard.runtimes.base import release_memory
from modelyard.server.batching.batcher import Batcher, Detached
from modelyard.server.batching.inline import INLINE_BELOW_S
from modelyard.server.batching.policy import BatchPolicy
from modelyard.server.metrics.stats import ModelStats
from modelyard.server.models.drift import DriftTally
from modelyard.server.models.limits import InputLimits
from modelyard.server.models.source import ModelSource
from modelyard.server.models.validation import InputChecker, batch_key
from modelyard.server.process.memory import trim_heap

if TYPE_CHECKING:
    from modelyard.traffic import TrafficLog

log = logging.getLogger("modelyard.server")
# A background model's batches gather this long (or to a full batch) even while it is idle: a shadow at W1 c=16
# ran batches of about two rows, each handed to its thread and back (docs/measurements.md, "Shadow and canary").
BACKGROUND_GATHER_S = 0.05


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Nested update: `{"batching": {"max_queue_delay_us": 0}}` changes one field and keeps the others."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def effective_manifest(source: ModelSource, workers: int = 1) -> Manifest:
    manifest = read_manifest(Path(source.package_dir))
    fields = merge(manifest.to_dict(), {**source.overrides, "name": source.name})
    runtime = dict(fields.get("runtime") or {})
    if not runtime.get("intra_op_threads"):
        # Each worker process runs its own instances: share the cores out instead of oversubscribing them.
        count = int((fields.get("instances") or {}).get("count", 1))
        runtime["intra_op_threads"] = max(1, (os.cpu_count() or 1) // max(1, workers * count))
        fields["runtime"] = runtime
    return parse_manifest(fields, f"{source.package_dir} with overrides")


def load_instances(package_dir: Path, manifest: Manifest) -> list[Runtime]:
    """`instances.count` runtimes; a thread-safe runtime is loaded once and shared by its instance threads."""
    if manifest.instances.kind == "process":
        from modelyard.runtimes.process import ProcessRuntime

        return [ProcessRuntime.load(package_dir, manifest) for _ in range(manifest.instances.count)]
    first = load_runtime(package_dir, manifest)
    if first.thread_safe:
        return [first] * manifest.instances.count
    return [first] + [load_runtime(package_dir, manifest) for _ in range(manifest.instances.count - 1)]


def _rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


class ServedModel:
    def __init__(self, source: ModelSource, manifest: Manifest, instances: list[Runtime]) -> None:
        self.name = source.name
        self.version = source.version
        self.source = source
        self.manifest = manifest
        self.signature = manifest.signature
        self.instances = instances
        self.stats = ModelStats()
        self.load_seconds = 0.0
        self.load_rss_bytes = 0  # the process's growth while loading and warming up (other loads may overlap)
        self.batcher: Batcher | None = None
        self.compute_estimate_s: float | None = None
        self._output_types = {s.name: s.datatype for s in manifest.signature.outputs}
        self.checker = InputChecker(manifest.signature, manifest.max_batch_size)
        self.limits: InputLimits | None = None  # reject: checked on the request path
        self.drift: DriftTally | None = None  # drift, and the warn checks' counts, off the request path
        if source.reference:
            shapes = {s.name: tuple(s.shape) for s in manifest.signature.inputs}
            checks = InputLimits(source.reference, shapes, source.input_checks)
            if source.input_checks == "reject":
                self.limits = checks
            counted = checks if source.input_checks == "warn" else None
            if source.drift or counted is not None:
                self.drift = DriftTally(source.reference, source.drift, counted)

    @property
    def unique_runtimes(self) -> list[Runtime]:
        """Each runtime once: thread-safe runtimes are shared by all their instance threads."""
        return list({id(r): r for r in self.instances}.values())

    @classmethod
    def load(cls, source: ModelSource, workers: int = 1) -> ServedModel:
        """Load and warm up (blocking: call it from a thread). The batcher is attached on the event loop."""
        start, rss_before = time.perf_counter(), _rss_bytes()
        manifest = effective_manifest(source, workers)
        package_dir = Path(source.package_dir)
        model = cls(source, manifest, load_instances(package_dir, manifest))
        model.warm_up(package_dir)
        trim_heap()  # what parsing the file and planning the graph left free (up to a weight's size) goes back now
        model.load_seconds = time.perf_counter() - start
        model.load_rss_bytes = max(0, _rss_bytes() - rss_before)
        log.info(
            "loaded %s version %s (%s, %d instance(s)) in %.2f s, +%.1f MiB",
            source.name, source.version, manifest.format, manifest.instances.count,
            model.load_seconds, model.load_rss_bytes / (1 << 20),
        )  # fmt: skip
        return model

    def warm_up(self, package_dir: Path) -> None:
        """Run the example through each instance (first calls allocate), and time the last run: the batcher's
        first estimate of how long a batch computes."""
        example = package_example(package_dir, self.manifest)
        for runtime in self.unique_runtimes:
            runtime.predict(example)
            start = time.perf_counter()
            runtime.predict(example)
            self.compute_estimate_s = time.perf_counter() - start

    def start(self, traffic: TrafficLog | None = None) -> None:
        """`traffic`: the log that the batcher shows each batch's sampled requests (`infer(logged=...)`)."""
        b = self.manifest.batching
        background = self.source.background  # a shadow's candidate: batches gather, never inline on the loop
        policy = BatchPolicy(
            max_batch_size=self.manifest.max_batch_size,
            preferred_batch_sizes=b.preferred_batch_sizes,
            max_queue_delay_s=max(b.max_queue_delay_us / 1e6, BACKGROUND_GATHER_S if background else 0.0),
            max_queue_size=b.max_queue_size,
            hold=background,
        )
        self.batcher = Batcher(
            policy,
            self.instances,
            self.stats,
            f"{self.name}-{self.version}",
            inline_below_s=0.0 if background else INLINE_BELOW_S,
            compute_estimate_s=self.compute_estimate_s,
            seen=self.drift.offer if self.drift is not None else None,
            log=partial(traffic.record_batch, self.version) if traffic is not None else None,
        )
        self.batcher.watch_idle(self.release_memory)

    async def infer(self, request: InferRequest, logged: str | None = None) -> InferResponse:
        """`logged`: the name the caller used, when the traffic log sampled the request: the batch that answers it
        logs it (`start(traffic)`)."""
        assert self.batcher is not None, "start() attaches the batcher"
        start = time.perf_counter_ns()
        try:
            response = await self._infer(request, self.batcher, logged)
        except BaseException:
            self.stats.record_request(time.perf_counter_ns() - start, ok=False)
            raise
        self.stats.record_request(time.perf_counter_ns() - start, ok=True)
        return response

    def shadow(self, request: InferRequest, logged: str, done: Callable[[BaseException | None], None]) -> None:
        """A shadow's call (server/experiments.py): checked and queued now, run and logged by a batch later, with
        nobody awaiting it; `done` is told how it ended. Raises what the checks raise."""
        assert self.batcher is not None, "start() attaches the batcher"
        _, rows = self._checked(request)
        start = time.perf_counter_ns()

        def ended(error: BaseException | None) -> None:
            self.stats.record_request(time.perf_counter_ns() - start, ok=error is None)
            done(error)

        inputs = {i.name: i.data for i in request.inputs}
        self.batcher.enqueue(inputs, rows, batch_key(request.inputs), Detached(ended), (logged, request.id))

    def _checked(self, request: InferRequest) -> tuple[set[str] | None, int]:
        """The outputs the request asked for (None: all) and its rows, once it passed the model's checks."""
        wanted = self._requested(request)
        rows = self.checker.check(request.inputs)
        if self.limits is not None:
            self.limits.check(request.inputs)
        return wanted, rows

    async def _infer(self, request: InferRequest, batcher: Batcher, logged: str | None) -> InferResponse:
        wanted, rows = self._checked(request)
        timeout = request.timeout_us
        outputs = await batcher.submit(
            {i.name: i.data for i in request.inputs},
            rows,
            batch_key(request.inputs),
            timeout / 1e6 if timeout else None,
            (logged, request.id) if logged is not None else None,
        )
        selected = [
            InferOutput(name, self._datatype(name, array), array)
            for name, array in outputs.items()
            if wanted is None or name in wanted
        ]
        return InferResponse(self.name, self.version, selected, request.id)

    def _requested(self, request: InferRequest) -> set[str] | None:
        if not request.outputs:
            return None
        wanted = set()
        for index, out in enumerate(request.outputs):
            if out.name not in self._output_types:
                have = ", ".join(self._output_types)
                raise InvalidArgument(f"outputs[{index}] {out.name!r}: the model has no such output (it has: {have})")
            wanted.add(out.name)
        return wanted

    def _datatype(self, name: str, array: np.ndarray) -> str:
        return self._output_types.get(name) or from_numpy(array.dtype)

    def snapshot(self) -> dict[str, Any]:
        """Statistics, queue, instances, drift and the input checks' counts (metrics/snapshots.py)."""
        batcher = self.batcher
        entry = {
            "name": self.name,
            "version": self.version,
            "queue_depth": batcher.depth if batcher else 0,
            "instances": batcher.count if batcher else 0,
            "loaded": 1,
            **self.stats.snapshot(),
        }
        if self.drift is not None and self.drift.window is not None:
            entry["drift"] = self.drift.snapshot()
        violations = self.limits.snapshot() if self.limits is not None else {}
        if self.drift is not None:
            violations = {**violations, **self.drift.violations()}
        if violations:
            entry["violations"] = violations
        return entry

    def release_memory(self) -> None:
        for runtime in self.unique_runtimes:
            release_memory(runtime)
        trim_heap()

    async def drain(self, timeout_s: float) -> bool:
        return await self.batcher.drain(timeout_s) if self.batcher else True

    def close(self) -> None:
        if self.batcher:
            self.batcher.close()
        for runtime in self.unique_runtimes:
            runtime.unload()
