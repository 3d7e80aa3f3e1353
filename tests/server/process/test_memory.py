"""Unloading gives the memory back: load/unload cycles of a 19 MB model do not grow the server, and an unload
returns most of what a load took. (Figures and ratios: benchmarks/unload.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from modelyard import examples
from modelyard.packaging import build_package
from modelyard.testing import Server, start_server, stop_server

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter

WEIGHTS_MIB = 19  # 256 → 2048 → 2048 → 10, float32


def settled(server: Server) -> float:
    time.sleep(1.0)
    return server.rss_mib()


def test_load_unload_cycles_do_not_grow_the_server(tmp_path: Path) -> None:
    wide = examples.mlp_onnx(tmp_path / "wide.onnx", sizes=(256, 2048, 2048, 10))
    build_package(wide, tmp_path / "models" / "wide")
    server = start_server([str(tmp_path / "models"), "--grpc-port", "0"], tmp_path / "home")
    repository = f"{server.url}/v2/repository/models/wide"
    loaded, unloaded = [], []
    try:
        for _ in range(4):
            httpx.post(f"{repository}/unload", timeout=30).raise_for_status()
            unloaded.append(settled(server))
            httpx.post(f"{repository}/load", timeout=30).raise_for_status()
            loaded.append(settled(server))
    finally:
        stop_server(server)
    figures = f"loaded {loaded}, unloaded {unloaded} MiB"
    # every unload gives the weights back, whichever thread loaded them (one malloc arena: server/memory.py)
    freed = [before - after for before, after in zip(loaded[:-1], unloaded[1:], strict=True)]
    assert min(freed) > WEIGHTS_MIB * 0.7, figures
    # a load keeps its weights, not what parsing the file took beside them
    kept = [after - before for before, after in zip(unloaded, loaded, strict=True)]
    assert max(kept) < WEIGHTS_MIB * 1.6, figures
    assert loaded[3] < loaded[1] + WEIGHTS_MIB * 0.5, figures  # two more cycles did not keep a model each
