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
from modelyard.server.rest import RestApp
from modelyard.server.run import SPEC_ENV
from modelyard.server.spec import ServeSpec
from modelyard.server.telemetry import SnapshotFiles

log = logging.getLogger("modelyard.server")


def build_app(spec: ServeSpec, telemetry_dir: Path | None = None) -> RestApp:
    """`telemetry_dir`: where the workers of one server leave their statistics for each other."""
    manager = ManagerFromSpec(spec)
    files = SnapshotFiles(telemetry_dir) if telemetry_dir else None
    dataplane = DataPlane(manager.manager, manager.resolve, WorkerTelemetry(manager.manager, files))
    manager.dataplane = dataplane
    return RestApp(dataplane, spec.max_body_bytes, on_startup=manager.start, on_shutdown=manager.stop)


def settle_heap() -> None:
    """After loading: move every object alive now (modules, runtimes, schemas) out of the collector's sight, and
    collect the youngest generation less often. A request allocates many short-lived objects; full collections
    that walk the whole long-lived heap were the server's worst pauses (p99)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


class ManagerFromSpec:
    """Loads the spec's models at startup; `resolve` finds a spec model again by name after an unload."""

    def __init__(self, spec: ServeSpec) -> None:
        self.spec = spec
        self.manager = ModelManager(workers=spec.workers, drain_timeout_s=spec.drain_timeout_s)
        self.dataplane: DataPlane | None = None
        self.grpc: Any = None
        for source in spec.models:
            self.manager.expected.add((source.name, source.version))

    async def start(self) -> None:
        started = time.perf_counter()
        await asyncio.gather(*(self.manager.load(s.source()) for s in self.spec.models))
        if self.spec.grpc_port and self.dataplane is not None:
            from modelyard.server.grpc.service import start_grpc  # imported only when gRPC is on

            self.grpc = await start_grpc(self.dataplane, self.spec.host, self.spec.grpc_port, self.spec.max_body_bytes)
        if self.dataplane is not None:
            self.dataplane.telemetry.start()
        settle_heap()
        log.info("%d model(s) loaded and warmed up in %.2f s", len(self.spec.models), time.perf_counter() - started)

    async def stop(self) -> None:
        if self.dataplane is not None:
            self.dataplane.telemetry.stop()
        if self.grpc is not None:
            await self.grpc.stop(grace=self.spec.drain_timeout_s)
        await self.manager.close()

    async def resolve(self, name: str) -> list:  # type: ignore[type-arg]
        base, _, tail = name.partition("@")
        base, _, version = base.partition("/")
        return [
            s.source()
            for s in self.spec.models
            if s.name == base and (not version or s.version == version) and (not tail or tail in s.aliases)
        ]


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
