"""ModelManager.sync, in process: load and warm the new set, switch aliases, drain the old; a failed load keeps
what served before."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest

from modelyard import examples
from modelyard.packaging import build_package
from modelyard.server.models.manager import ModelManager
from modelyard.server.models.source import ModelSource
from modelyard.server.process.priority import BACKGROUND_NICE, in_background_thread, thread_nice


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


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_a_background_model_loads_and_runs_on_threads_of_the_lowest_priority(tmp_path: Path) -> None:
    """A shadow candidate's work must yield the cores to production: its instance threads (and the threads its
    runtime starts while loading) run at nice 19, and it never runs inline on the event loop. A model served for
    its own callers keeps the loop's priority."""
    package = tmp_path / "v1"
    build_package(examples.mlp_onnx(tmp_path / "s.onnx"), package, name="s")
    x = {"x": np.zeros((1, 32), np.float32)}

    async def main() -> None:
        manager = ModelManager()
        await manager.sync([ModelSource("s", "1", str(package), ("production",)),
                            ModelSource("s", "2", str(package), background=True)])  # fmt: skip
        loop = asyncio.get_running_loop()
        for version, nice in (("1", thread_nice()), ("2", BACKGROUND_NICE)):
            model = manager.get("s", version)
            assert model.batcher is not None
            seen = await loop.run_in_executor(model.batcher.pool, thread_nice)
            assert seen == nice, version
            for _ in range(20):  # a fast model runs inline on the loop, unless it is background
                await model.batcher.submit(x, 1, None)
            assert (model.batcher.inline_below_s == 0) == (version == "2")
        assert thread_nice() != BACKGROUND_NICE  # the loop's own thread is untouched
        await manager.close()

    asyncio.run(main())


def test_in_background_thread_hands_back_the_value_or_the_error() -> None:
    async def main() -> None:
        assert await in_background_thread(lambda: 41 + 1) == 42
        with pytest.raises(ZeroDivisionError):
            await in_background_thread(lambda: 1 // 0)

    asyncio.run(main())
