"""Graceful lifecycle: ready only when loaded; SIGTERM finishes requests in flight, refuses new ones, exits 0."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard.packaging import build_package
from modelyard.testing import start_server, wait_until

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter

SLOW = """
import time
from pathlib import Path

class Slow:
    def predict(self, inputs):
        seconds = float(inputs["x"].ravel()[0])
        if seconds > 0:  # a real request, not the warm-up: tell the test it is in flight
            (Path(__file__).parent / "started").touch()
        time.sleep(seconds)
        return {"y": inputs["x"]}
"""


@pytest.fixture
def slow_package(tmp_path: Path) -> Path:
    (tmp_path / "slow.py").write_text(SLOW)
    build_package(
        tmp_path / "slow.py", tmp_path / "slow", python_class="Slow", example={"x": np.zeros((1, 1), np.float32)}
    )
    return tmp_path / "slow"


def test_sigterm_finishes_requests_in_flight_and_exits_zero(slow_package: Path, tmp_path: Path) -> None:
    server = start_server([str(slow_package)], tmp_path / "home")
    assert httpx.get(f"{server.url}/v2/health/ready").json() == {"ready": True}
    result: dict[str, object] = {}

    def slow_call() -> None:
        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [1.5]}]}
        response = httpx.post(f"{server.url}/v2/models/slow/infer", json=body, timeout=30)
        result["status"] = response.status_code
        result["y"] = response.json()["outputs"][0]["data"]

    caller = threading.Thread(target=slow_call)
    caller.start()
    marker = slow_package / "code" / "started"
    wait_until(marker.exists, 20, 0.01, what="the request reaching the model")
    server.process.send_signal(signal.SIGTERM)
    caller.join(timeout=30)
    assert result == {"status": 200, "y": [1.5]}
    assert server.process.wait(timeout=30) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/v2/health/live", timeout=2)
