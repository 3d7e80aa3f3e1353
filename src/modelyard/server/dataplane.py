"""The one data plane: REST, gRPC, batch jobs and the profiler call these methods; transports only convert
types and map errors."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry

from modelyard import __version__
from modelyard.errors import FailedPrecondition, ModelyardError, NotFound
from modelyard.protocol.types import InferRequest, InferResponse
from modelyard.server.experiments import pair_id
from modelyard.server.metrics.prometheus import ServerCollector, WorkerTelemetry, prometheus_text
from modelyard.server.metrics.snapshots import reported_versions
from modelyard.server.metrics.stats import triton_stats
from modelyard.server.models.drift import judged
from modelyard.server.models.manager import ModelManager
from modelyard.server.models.served import ServedModel
from modelyard.server.models.triton_config import PLATFORMS, model_config
from modelyard.server.repository.access import ControlAccess
from modelyard.uri import parse_ref

if TYPE_CHECKING:
    from modelyard.server.experiments import Experiments
    from modelyard.traffic import TrafficLog

EXTENSIONS = ["binary_tensor_data", "model_repository", "model_configuration", "statistics"]


class Control(Protocol):
    """Repository loads and unloads by reference (`fraud`, `fraud/3`, `fraud@production`): ModelControl."""

    async def load(self, reference: str) -> list[str]: ...

    async def unload(self, reference: str) -> list[str]: ...

    def unloaded(self) -> list[tuple[str, str]]: ...


MAX_FEATURES = 100  # drift gauges per version: the labels stay bounded however wide the inputs


class DataPlane:
    def __init__(
        self,
        manager: ModelManager,
        control: Control | None = None,
        telemetry: WorkerTelemetry | None = None,
        access: ControlAccess | None = None,
        traffic: TrafficLog | None = None,
        experiments: Experiments | None = None,
    ) -> None:
        self.manager = manager
        self.control = control
        self.traffic = traffic
        self.experiments = experiments
        self.access = access or ControlAccess()
        self.telemetry = telemetry or WorkerTelemetry(manager.snapshot)
        self.collectors = CollectorRegistry()  # the app's own: tests and several apps never share one
        self.collectors.register(ServerCollector(self.telemetry.merged, self._drift_verdicts))

    def metrics_text(self) -> bytes:
        return prometheus_text(self.collectors)

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return self.manager.ready()

    def server_metadata(self) -> dict[str, Any]:
        return {"name": "modelyard", "version": __version__, "extensions": EXTENSIONS}

    def model(self, name: str, version: str | None = None) -> ServedModel:
        return self.manager.get(name, version)

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        model = self.model(name, version)
        return {
            "name": model.name,
            "versions": sorted(self.manager.models.get(model.name, {})),
            "platform": PLATFORMS[model.manifest.format],
            "inputs": [s.model_dump(mode="json") for s in model.signature.inputs],
            "outputs": [s.model_dump(mode="json") for s in model.signature.outputs],
            "parameters": {
                "load_seconds": round(model.load_seconds, 4),
                "load_memory_bytes": model.load_rss_bytes,
                "instances": model.manifest.instances.count,
                "max_batch_size": model.manifest.max_batch_size,
            },
        }

    def model_ready(self, name: str, version: str | None = None) -> bool:
        try:
            model = self.model(name, version)
        except NotFound:
            return False
        return model.batcher is not None

    async def infer(self, name: str, version: str | None, request: InferRequest) -> InferResponse:
        if self.manager.parked and (woke := await self._wake(name, version)) is not None:
            response = await self.infer(name, version, request)  # loaded again: the common path
            self.model(name, version).stats.record_cold_start(time.perf_counter() - woke)
            return response
        experiments, experiment = self.experiments, None
        if experiments is not None:
            model, experiment = experiments.route(name, version, request)
        else:
            model = self.model(name, version)
        traffic = self.traffic if self.traffic is not None and self.traffic.sampled(request) else None
        if experiment is None and traffic is None:
            return await model.infer(request)  # the common path: nothing to count or record
        shadowed = experiment is not None and experiment.mode == "shadow"  # `route` drew the share
        if shadowed and request.id is None:
            request.id = pair_id()  # the pair's key in the log
        start = time.perf_counter_ns()
        # A sampled request is logged by the batch that answers it, and so is a shadowed one that asked for some
        # outputs only (the batch has them all); otherwise the shadow's process logs production's half of the pair.
        by_batch = traffic is not None or (shadowed and bool(request.outputs))
        try:
            response = await model.infer(request, name if by_batch else None)
        except ModelyardError as exc:  # what failed is traffic too: the gate counts errors the baseline did not raise
            if experiments is not None and experiment is not None:
                experiments.answered(experiment, model, failed=True)
            if traffic is not None:
                traffic.record(name, model.version, request, None, time.perf_counter_ns() - start, exc)
            raise
        if experiments is not None and experiment is not None:
            experiments.answered(experiment, model, failed=False)
            if shadowed:  # production's answer too, unless this worker's log has it already
                answer = None if by_batch else (name, response, time.perf_counter_ns() - start)
                experiments.shadow(experiment, request, answer)
        return response

    def check_model(self, name: str, version: str | None = None) -> None:
        """NotFound unless the model is loaded, or idle-unloaded and loaded again by a request (`infer`)."""
        if not (self.manager.parked and self.manager.parked_key(name, version) is not None):
            self.model(name, version)

    async def _wake(self, name: str, version: str | None) -> float | None:
        """Load the idle-unloaded version a request means (`serve --idle-unload`), the request waiting for it;
        the time it started, for the request that started it (its answer completes the cold start)."""
        key = self.manager.parked_key(name, version)
        if key is None:
            return None
        started = time.perf_counter()
        return started if await self.manager.wake(key) else None

    def model_drift(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The version's traffic since it was loaded, summed over every worker, against its reference profile."""
        model = self.model(name, version)
        if model.drift is None:
            raise FailedPrecondition(
                f"{model.name}/{model.version} was loaded without a reference profile: modelyard reference set "
                f"{model.name}/{model.version} DATA, then serve it from the registry"
            )
        tallied = self.telemetry.merged().get(f"{model.name}/{model.version}", {}).get("drift", {})
        verdicts = judged(model.drift.profile, tallied)
        rows = max((t["rows"] for t in tallied.get("tallies", {}).values()), default=0)
        return {
            "model": model.name,
            "version": model.version,
            "since": tallied.get("since"),
            "rows": rows,
            "skipped": tallied.get("skipped", 0),
            "drift": any(f.drift is True for f in verdicts),
            "features": [vars(f) for f in verdicts],
        }

    def _drift_verdicts(self, merged: dict[str, Any]) -> list[tuple[str, str, Any]]:
        """(model, version, verdict) of each loaded version with a reference, at most MAX_FEATURES each, from the
        merged snapshot the scrape already read."""
        found = []
        for versions in self.manager.models.values():
            for m in versions.values():
                tallied = merged.get(f"{m.name}/{m.version}", {}).get("drift") if m.drift is not None else None
                if m.drift is not None and tallied:
                    found += [(m.name, m.version, f) for f in judged(m.drift.profile, tallied)[:MAX_FEATURES]]
        return found

    def model_config(self, name: str, version: str | None = None) -> dict[str, Any]:
        model = self.model(name, version)
        return model_config(model.name, model.version, model.manifest)

    def model_stats(self, name: str | None = None, version: str | None = None) -> dict[str, Any]:
        """Triton's statistics, summed over every worker process of this server."""
        shadows = {(s.source.name, s.source.version) for s in self.experiments.shadows} if self.experiments else set()
        if name is None:
            wanted = {(m.name, m.version) for versions in self.manager.models.values() for m in versions.values()}
            wanted |= shadows
        elif version is None and "@" not in name:
            wanted = {(name, v) for v in self.manager.models.get(name, {})} | {s for s in shadows if s[0] == name}
            if not wanted:
                raise self.manager.not_loaded(name)
        elif version is not None and (name, version) in shadows:
            wanted = {(name, version)}  # a shadow's candidate, loaded by its own process
        else:
            model = self.model(name, version)
            wanted = {(model.name, model.version)}
        merged = reported_versions(self.telemetry.merged())
        return {
            "model_stats": [triton_stats(n, v, merged[f"{n}/{v}"]) for n, v in sorted(wanted) if f"{n}/{v}" in merged]
        }

    def repository_index(self) -> list[dict[str, str]]:
        return [
            {"name": e.name, "version": e.version, "state": e.state, **({"reason": e.reason} if e.reason else {})}
            for e in self.manager.index()
        ] + [
            {"name": n, "version": v, "state": "UNAVAILABLE", "reason": "unloaded"}
            for n, v in (self.control.unloaded() if self.control else [])
        ]

    async def load(self, reference: str, credential: str | None = None) -> list[str]:
        """Load a model by name or reference (`fraud`, `fraud@production`, `fraud/3`); returns its versions.
        `credential`: the caller's control token, required when the server has one."""
        self.access.check(credential)
        if self.control is None:
            raise NotFound("this server has no model repository or registry to load from")
        return await self.control.load(reference)

    async def unload(self, reference: str, credential: str | None = None) -> list[str]:
        self.access.check(credential)
        if self.control is None:
            ref = parse_ref(reference)
            return await self.manager.unload(ref.name, None if ref.version is None else str(ref.version))
        return await self.control.unload(reference)
