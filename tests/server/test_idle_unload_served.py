"""`serve --idle-unload`: a real server unloads an idle model and answers the next requests from zero, none failing,
the cold start exported on /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard import examples
from modelyard.client import AsyncClient
from modelyard.testing import start_server, stop_server, wait_until

pytestmark = pytest.mark.e2e


async def _burst(url: str, n: int) -> list[np.ndarray]:
    async with AsyncClient(url, timeout_s=30) as client:
        return list(await asyncio.gather(*(client.infer("m", {"x": np.ones((1, 4), np.float32)}) for _ in range(n))))


def test_an_idle_model_is_unloaded_and_answers_again_from_zero(tmp_path: Path) -> None:
    model = examples.mlp_onnx(tmp_path / "m.onnx", sizes=(4, 8, 2))
    server = start_server([str(model), "--name", "m", "--idle-unload", "1"], tmp_path / "home", tmp_path / "log")
    try:
        first = asyncio.run(_burst(server.url, 4))
        loaded = 'modelyard_model_loaded{model="m",version="1"}'

        def unloaded() -> bool:
            return f"{loaded} 0.0" in httpx.get(f"{server.url}/metrics", timeout=5).text

        wait_until(unloaded, timeout_s=20, what="the idle model unloaded")
        assert httpx.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 200  # the server still is
        again = asyncio.run(_burst(server.url, 16))  # every request of the burst waits for the one load
        assert len(again) == 16
        for answer in again:
            np.testing.assert_array_equal(answer["y"], first[0]["y"])
        metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
        assert f"{loaded} 1.0" in metrics
        assert 'modelyard_cold_start_seconds_count{model="m",version="1"} 1.0' in metrics
        assert 'modelyard_requests_total{model="m",outcome="error",version="1"} 0.0' in metrics
    finally:
        stop_server(server)
