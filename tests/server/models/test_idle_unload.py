"""Scale to zero per model: a version idle for `idle_unload_s` is unloaded, and the next requests (several at once)
load it again, all answered, one load; its statistics and aliases carry over (real ONNX Runtime, in process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from modelyard.datatypes import from_numpy
from modelyard.protocol.types import InferInput, InferRequest
from modelyard.server.dataplane import DataPlane
from modelyard.server.models.manager import ModelManager
from modelyard.server.models.source import ModelSource
from modelyard.server.repository.spec import SourceSpec


def _request(x: np.ndarray) -> InferRequest:
    return InferRequest(inputs=[InferInput("x", from_numpy(x.dtype), tuple(x.shape), x)])


async def _scenario(package: Path) -> None:
    manager = ModelManager(idle_unload_s=10.0)
    plane = DataPlane(manager)
    source = SourceSpec(name="m", version="1", package_dir=str(package), aliases=("production",)).source()
    await manager.load(source)
    manager.expected.add(("m", "1"))
    x = np.ones((2, 4), np.float32)
    first = await plane.infer("m@production", None, _request(x))
    assert await manager.park_idle(0.0) == []  # first sight of its activity
    assert await manager.park_idle(9.0) == []  # idle, but not for 10 s yet
    assert await manager.park_idle(10.0) == [("m", "1")]
    assert "m" not in manager.models
    assert manager.ready()  # still this server's to serve
    assert manager.snapshot()["m/1"]["loaded"] == 0
    loads = []
    real_load = manager.load

    async def counted(source: ModelSource, stats: object = None) -> object:
        loads.append(source.version)
        return await real_load(source, stats)  # type: ignore[arg-type]

    manager.load = counted  # type: ignore[method-assign]
    answers = await asyncio.gather(*(plane.infer("m@production", None, _request(x)) for _ in range(8)))
    assert loads == ["1"]  # eight requests, one load
    for answer in answers:
        np.testing.assert_array_equal(answer.outputs[0].data, first.outputs[0].data)
    entry = manager.snapshot()["m/1"]
    assert entry["loaded"] == 1
    assert entry["cold_starts"] == 1
    assert entry["cold_start_seconds"] > 0
    assert entry["success"]["count"] == 9  # the first request's count carried over the unload
    # busy again: not parked while requests keep coming
    await plane.infer("m", None, _request(x))
    assert await manager.park_idle(20.0) == []
    await manager.close()


def test_an_idle_version_is_unloaded_and_comes_back_on_the_next_requests(tmp_path: Path) -> None:
    from modelyard import examples
    from modelyard.packaging import build_package

    build_package(examples.mlp_onnx(tmp_path / "m.onnx", sizes=(4, 8, 2)), tmp_path / "package")
    asyncio.run(_scenario(tmp_path / "package"))
