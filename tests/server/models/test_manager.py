"""ModelManager.sync, in process: load and warm the new set, switch aliases, drain the old; a failed load keeps
what served before."""

from __future__ import annotations

import asyncio
from pathlib import Path

from modelyard import examples
from modelyard.packaging import build_package
from modelyard.server.models.manager import ModelManager
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
