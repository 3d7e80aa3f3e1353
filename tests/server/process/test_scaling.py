"""`serve --workers MIN..MAX`: in flight measured from the workers' own counters (Little's law), and a real server
that adds a worker under load and lets it go after, with no request failing either way."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from modelyard.client import AsyncClient
from modelyard.errors import ModelyardError
from modelyard.packaging import build_package
from modelyard.scaling.policy import Autoscaler, Policy
from modelyard.server.process.scaler import WorkerScaler
from modelyard.testing import assert_one_line_error, run_cli, start_server, stop_server, wait_until

SLOW = """
import time

class Slow:
    def predict(self, inputs):
        time.sleep(0.05)
        return {"y": inputs["x"] * 2}
"""


def _snapshot(folder: Path, pid: int, busy_s: float) -> None:
    entry = {"success": {"count": 1, "ns": int(busy_s * 1e9)}, "fail": {"count": 0, "ns": 0}}
    (folder / f"{pid}.json").write_text(json.dumps({"m/1": entry, "__process__": {"cpu": 1}}))


def test_in_flight_is_the_busy_time_of_an_interval_over_its_length(tmp_path: Path) -> None:
    scaler = WorkerScaler(tmp_path, Autoscaler(Policy(capacity=1, target_ratio=1.0, max_replicas=4)))
    _snapshot(tmp_path, 11, 10.0)
    _snapshot(tmp_path, 12, 5.0)
    assert scaler.wanted([11, 12, 13], 100.0) is None  # one look: nothing to measure between
    _snapshot(tmp_path, 11, 12.0)  # two seconds of requests in two seconds: one in flight
    _snapshot(tmp_path, 12, 9.0)  # four: two in flight
    assert scaler.in_flight([11, 12, 13], 102.0) == pytest.approx(3.0)  # 13 wrote nothing yet
    _snapshot(tmp_path, 11, 14.0)
    _snapshot(tmp_path, 12, 13.0)
    assert scaler.wanted([11, 12], 104.0) == 3  # three in flight at one a worker


async def _load(url: str, stop: asyncio.Event, failures: list[str], answered: list[int]) -> None:
    async with AsyncClient(url, timeout_s=30) as client:
        while not stop.is_set():
            try:
                await client.infer("slow", {"x": np.ones((1, 4), np.float32)})
                answered.append(1)
            except ModelyardError as exc:
                failures.append(str(exc))


def _workers(server_pid: int) -> int:
    return len(psutil.Process(server_pid).children())


@pytest.mark.e2e
def test_a_worker_is_added_under_load_let_go_after_and_the_model_answers_from_zero(tmp_path: Path) -> None:
    """What the README promises of `serve --workers 1..2 --idle-unload`: a worker added under load and let go
    after it, the model unloaded when idle and answered again from zero, no request failing in either."""
    (tmp_path / "slow.py").write_text(SLOW)
    build_package(
        tmp_path / "slow.py", tmp_path / "slow", python_class="Slow", example={"x": np.ones((1, 4), np.float32)}
    )
    args = [
        "--workers",
        "1..2",
        "--capacity",
        "1",
        "--scale-window",
        "2",
        "--scale-down-delay",
        "2",
        "--idle-unload",
        "3",
    ]
    server = start_server([str(tmp_path / "slow"), *args], tmp_path / "home", tmp_path / "log")
    try:
        assert _workers(server.process.pid) == 1
        failures: list[str] = []
        answered: list[int] = []

        async def scenario() -> None:
            stop = asyncio.Event()
            load = [asyncio.create_task(_load(server.url, stop, failures, answered)) for _ in range(4)]
            await asyncio.to_thread(wait_until, lambda: _workers(server.process.pid) == 2, 30, 0.2, "a worker added")
            await asyncio.sleep(2)  # both workers answering under the load
            stop.set()
            await asyncio.gather(*load)

        asyncio.run(scenario())
        wait_until(lambda: _workers(server.process.pid) == 1, 30, 0.2, "the worker let go")
        unloaded = 'modelyard_model_loaded{model="slow",version="1"} 0.0'
        wait_until(lambda: unloaded in httpx.get(f"{server.url}/metrics", timeout=5).text, 30, 0.2, "unloaded")
        before = len(answered)

        async def from_zero() -> None:
            stop = asyncio.Event()
            load = [asyncio.create_task(_load(server.url, stop, failures, answered)) for _ in range(4)]
            await asyncio.to_thread(wait_until, lambda: len(answered) >= before + 8, 30, 0.1, "answered from zero")
            stop.set()
            await asyncio.gather(*load)

        asyncio.run(from_zero())
        assert failures == []
        assert len(answered) > 40
        log = (tmp_path / "log").read_text()
        assert "the load asks for 2" in log
        assert "unloaded after" in log
    finally:
        stop_server(server)


@pytest.mark.e2e
def test_a_range_without_capacity_is_one_line(tmp_path: Path) -> None:
    from modelyard import examples

    model = examples.mlp_onnx(tmp_path / "m.onnx", sizes=(4, 8, 2))
    for args, text in [(("--workers", "3..1"), "--workers 3..1"), (("--workers", "1..2"), "give --capacity"),
                       (("--workers", "two"), "--workers 'two'")]:  # fmt: skip
        assert_one_line_error(run_cli(tmp_path, "serve", str(model), *args, ok=False), 2, text)
    time.sleep(0)
