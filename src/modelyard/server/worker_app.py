"""Build the ASGI app of one worker process from a ServeSpec."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.server.dataplane import DataPlane
from modelyard.server.metrics.prometheus import WorkerTelemetry
from modelyard.server.metrics.snapshots import SHADOWS, TRAFFIC, SnapshotFiles
from modelyard.server.models.manager import ModelManager
from modelyard.server.process.common import SPEC_ENV, telemetry_dir
from modelyard.server.process.memory import settle_heap
from modelyard.server.repository.access import ControlAccess
from modelyard.server.repository.control import ModelControl, loaded_sources
from modelyard.server.repository.spec import ServeSpec, SpecFile
from modelyard.server.transports.rest import RestApp
from modelyard.server.transports.uvicorn_protocol import OneWriteProtocol

if TYPE_CHECKING:
    from modelyard.server.experiments import Experiments
    from modelyard.traffic import TrafficLog

log = logging.getLogger("modelyard.server")


def build_app(spec: ServeSpec, telemetry_dir: Path | None = None, spec_file: SpecFile | None = None) -> RestApp:
    """`telemetry_dir`: where the workers of one server leave their statistics for each other; `spec_file`: the
    spec on disk, watched for changes (the registry moving an alias, a load on another worker)."""
    manager = ModelManager(workers=spec.workers, drain_timeout_s=spec.drain_timeout_s, idle_unload_s=spec.idle_unload_s)
    manager.expected.update((s.name, s.version) for s in spec.models if s.loaded)  # ready once all are loaded
    files = SnapshotFiles(telemetry_dir) if telemetry_dir else None
    control = ModelControl(manager, spec, spec_file)
    access = ControlAccess(spec.control_token)
    traffic = manager.traffic = traffic_log(spec)

    trials = experiments(spec, manager)

    def snapshot() -> dict[str, Any]:
        snapshot = manager.snapshot()
        if trials is not None and trials.shadows:
            snapshot[SHADOWS] = trials.snapshot()
        if traffic is not None:
            snapshot[TRAFFIC] = {"logged": traffic.logged, "dropped": traffic.dropped}
        return snapshot

    # Idle, a worker beats a few times per the supervisor's timeout for a hung worker.
    telemetry = WorkerTelemetry(snapshot, files, ready=manager.ready, idle_period_s=spec.worker_timeout_s / 4)
    dataplane = DataPlane(manager, control, telemetry, access, traffic, trials)
    lifecycle = Lifecycle(spec, dataplane, control)
    return RestApp(dataplane, spec.max_body_bytes, on_startup=lifecycle.start, on_shutdown=lifecycle.stop)


def experiments(spec: ServeSpec, manager: ModelManager) -> Experiments | None:
    if not spec.experiments:
        return None
    from modelyard.server.experiments import Experiment, Experiments
    from modelyard.server.shadow import ShadowProcess
    from modelyard.traffic import Sampler
    from modelyard.traffic.records import SHADOW

    found = []
    for e in spec.experiments:
        shadow = None
        if e.source is not None and spec.traffic is not None:
            source = e.source.source(spec.drift, spec.input_checks)
            shadow = ShadowProcess(source, spec.traffic, f"{e.name}@{SHADOW}", workers=spec.workers)
        found.append(Experiment(e.name, e.alias, e.candidate, e.mode, Sampler(e.rate, e.key or None), shadow=shadow))
    return Experiments(found, manager)


def traffic_log(spec: ServeSpec) -> TrafficLog | None:
    """This worker's traffic log (its own files), when the spec samples any traffic or has a shadow (whose process
    logs the pairs in a log of its own, except production's half of a request that asked for some outputs only:
    the batch that answered it has them all)."""
    link = spec.traffic
    if link is None or (link.sample <= 0 and not any(e.mode == "shadow" for e in spec.experiments)):
        return None
    return link.open(worker=str(os.getpid()))


class Lifecycle:
    """Startup (load and warm up every model, then gRPC and telemetry) and shutdown, in that order and reverse."""

    def __init__(self, spec: ServeSpec, dataplane: DataPlane, control: ModelControl) -> None:
        self.spec = spec
        self.dataplane = dataplane
        self.control = control
        self.grpc: Any = None
        self.parking: asyncio.Task[None] | None = None

    async def start(self) -> None:
        started = time.perf_counter()
        manager = self.dataplane.manager
        loads = [manager.load(source) for source in loaded_sources(self.spec)]
        experiments = self.dataplane.experiments
        await asyncio.gather(*loads, *([experiments.start()] if experiments is not None else []))
        if self.spec.grpc_port:
            from modelyard.server.transports.grpc_service import ServerTls, start_grpc  # only when gRPC is on

            spec = self.spec
            tls = ServerTls(spec.tls_cert, spec.tls_key, spec.tls_ca) if spec.tls_cert else None
            self.grpc = await start_grpc(self.dataplane, spec.host, spec.grpc_port, spec.max_body_bytes, tls)
        self.dataplane.telemetry.start()
        if self.dataplane.traffic is not None:
            self.dataplane.traffic.start()
        self.control.watch()
        if self.spec.idle_unload_s:
            self.parking = asyncio.create_task(self._park(self.spec.idle_unload_s))
        settle_heap()
        log.info("%d model(s) loaded and warmed up in %.2f s", len(self.spec.models), time.perf_counter() - started)

    async def _park(self, idle_s: float) -> None:
        """Every quarter of the idle time (at most a second): unload the versions idle that long."""
        manager = self.dataplane.manager
        while True:
            await asyncio.sleep(min(1.0, idle_s / 4))
            await manager.park_idle(time.monotonic())

    async def stop(self) -> None:
        if self.parking is not None:
            self.parking.cancel()
        await self.control.stop()
        if self.grpc is not None:
            await self.grpc.stop(grace=self.spec.drain_timeout_s)
        if self.dataplane.experiments is not None:  # after the last request: each shadowed one reaches its shadow
            await self.dataplane.experiments.drain()
        self.dataplane.telemetry.stop()
        await self.dataplane.manager.close()
        if self.dataplane.traffic is not None:  # after the last request: everything sampled is written
            await asyncio.to_thread(self.dataplane.traffic.close)


def create_app(environ: Mapping[str, str] = os.environ) -> RestApp:
    """Factory for the HTTP server's worker processes.

    A worker reads one variable, the spec file its launcher wrote; everything else is in the spec, resolved from
    `Settings` by `modelyard serve`. (Building `Settings` here would cost each worker 8 MiB of pydantic-settings.)
    """
    path = environ.get(SPEC_ENV)
    if not path:
        raise RuntimeError(f"{SPEC_ENV} is not set; start servers with `modelyard serve`")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spec_file = SpecFile(Path(path))
    spec = spec_file.read()
    OneWriteProtocol.max_head_bytes = spec.max_head_bytes  # the protocol uvicorn runs this app on
    OneWriteProtocol.head_timeout_s = spec.head_timeout_s
    return build_app(spec, telemetry_dir(path), spec_file)
