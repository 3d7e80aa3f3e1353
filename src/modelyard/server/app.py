"""Build the ASGI app of one worker process from a ServeSpec."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.server.dataplane import DataPlane
from modelyard.server.manager import ModelManager
from modelyard.server.metrics import WorkerTelemetry
from modelyard.server.model import ModelSource
from modelyard.server.rest import RestApp
from modelyard.server.run import SPEC_ENV
from modelyard.server.spec import ServeSpec
from modelyard.server.telemetry import SnapshotFiles
from modelyard.uri import parse_ref

log = logging.getLogger("modelyard.server")


def build_app(spec: ServeSpec, telemetry_dir: Path | None = None) -> RestApp:
    """`telemetry_dir`: where the workers of one server leave their statistics for each other."""
    manager = ModelManager(workers=spec.workers, drain_timeout_s=spec.drain_timeout_s)
    manager.expected.update((s.name, s.version) for s in spec.models)  # not ready until every one is loaded
    files = SnapshotFiles(telemetry_dir) if telemetry_dir else None
    dataplane = DataPlane(manager, SpecResolver(spec), WorkerTelemetry(manager, files))
    lifecycle = Lifecycle(spec, dataplane)
    return RestApp(dataplane, spec.max_body_bytes, on_startup=lifecycle.start, on_shutdown=lifecycle.stop)


def settle_heap() -> None:
    """After loading: move every object alive now (modules, runtimes, schemas) out of the collector's sight, and
    collect the youngest generation less often. A request allocates many short-lived objects; full collections
    that walk the whole long-lived heap were the server's worst pauses (p99)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


class SpecResolver:
    """Finds a spec model again by reference (`fraud`, `fraud/3`, `fraud@production`), e.g. after an unload."""

    def __init__(self, spec: ServeSpec) -> None:
        self.spec = spec

    async def __call__(self, reference: str) -> list[ModelSource]:
        ref = parse_ref(reference)
        return [
            s.source()
            for s in self.spec.models
            if s.name == ref.name
            and (ref.version is None or s.version == str(ref.version))
            and (ref.alias is None or ref.alias in s.aliases)
        ]


class Lifecycle:
    """Startup (load and warm up every model, then gRPC and telemetry) and shutdown, in that order and reverse."""

    def __init__(self, spec: ServeSpec, dataplane: DataPlane) -> None:
        self.spec = spec
        self.dataplane = dataplane
        self.grpc: Any = None

    async def start(self) -> None:
        started = time.perf_counter()
        manager = self.dataplane.manager
        await asyncio.gather(*(manager.load(s.source()) for s in self.spec.models))
        if self.spec.grpc_port:
            from modelyard.server.grpc.service import start_grpc  # imported only when gRPC is on

            self.grpc = await start_grpc(self.dataplane, self.spec.host, self.spec.grpc_port, self.spec.max_body_bytes)
        self.dataplane.telemetry.start()
        settle_heap()
        log.info("%d model(s) loaded and warmed up in %.2f s", len(self.spec.models), time.perf_counter() - started)

    async def stop(self) -> None:
        self.dataplane.telemetry.stop()
        if self.grpc is not None:
            await self.grpc.stop(grace=self.spec.drain_timeout_s)
        await self.dataplane.manager.close()


def create_app(environ: Mapping[str, str] = os.environ) -> RestApp:
    """Factory for the HTTP server's worker processes.

    A worker reads one variable, the spec file its launcher wrote; everything else is in the spec, resolved from
    `Settings` by `modelyard serve`. (Building `Settings` here would cost each worker 8 MiB of pydantic-settings.)
    """
    path = environ.get(SPEC_ENV)
    if not path:
        raise RuntimeError(f"{SPEC_ENV} is not set; start servers with `modelyard serve`")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return build_app(ServeSpec.read(Path(path)), Path(path).with_suffix(".telemetry"))
