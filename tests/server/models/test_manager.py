"""ModelManager.sync, in process: load and warm the new set, switch aliases, drain the old; a failed load keeps
what served before."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from modelyard import examples
from modelyard.packaging import build_package
from modelyard.server.models.manager import ModelManager
from modelyard.server.models.served import BACKGROUND_GATHER_S
from modelyard.server.models.source import ModelSource


def test_sync_switches_aliases_and_keeps_the_old_version_when_the_new_one_fails(tmp_path: Path) -> None:
    package = tmp_path / "v1"
    build_package(examples.mlp_onnx(tmp_path / "s.onnx"), package, name="s")
    broken = tmp_path / "missing"

    async def main() -> None:
        manager = ModelManager()
        await manager.sync([ModelSource("s", "1", str(package), ("production",))])
        assert manager.get("s@production").version == "1"
        await manager.sync([ModelSource("s", "2", str(broken), ("production",))])
        assert manager.get("s@production").version == "1"  # still served: the new version did not load
        assert ("s", "2") in manager.failed
        await manager.sync([ModelSource("s", "2", str(package), ("production",))])
        assert manager.get("s@production").version == "2"
        assert sorted(manager.models["s"]) == ["2"]  # the old one was drained and unloaded
        assert ("s", "2") not in manager.failed
        await manager.close()

    asyncio.run(main())


def test_a_background_model_gathers_its_batches_and_never_runs_inline(tmp_path: Path) -> None:
    """A shadow's candidate (in its own process, server/shadow/) gathers its calls into batches even while idle,
    and never runs on the event loop, which it must leave to the shadow's pipe; a model served for its own
    callers may run a fast batch inline."""
    package = tmp_path / "v1"
    build_package(examples.mlp_onnx(tmp_path / "s.onnx"), package, name="s")
    x = {"x": np.zeros((1, 32), np.float32)}

    async def main() -> None:
        manager = ModelManager()
        await manager.sync([ModelSource("s", "1", str(package), ("production",)),
                            ModelSource("s", "2", str(package), background=True)])  # fmt: skip
        for version in ("1", "2"):
            model = manager.get("s", version)
            assert model.batcher is not None
            calls, started = [], time.monotonic()
            for _ in range(20):  # a call every millisecond or so
                calls.append(asyncio.ensure_future(model.batcher.submit(x, 1, None)))
                await asyncio.sleep(0.001)
            await asyncio.gather(*calls)
            windows = (time.monotonic() - started) / BACKGROUND_GATHER_S
            assert (model.batcher.inline_below_s == 0) == (version == "2")
            if version == "2":  # a batch per 50 ms at most (one for each call, without the gathering)
                assert model.stats.execution_count <= windows + 1, (model.stats.execution_count, windows)
        await manager.close()

    asyncio.run(main())
