"""Discovery and failover: two servers found through the registry; one is killed under steady load; no call fails
and the traffic moves to the survivor."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard import examples
from modelyard.client import Client
from modelyard.registry import Registry
from modelyard.settings import Settings
from modelyard.testing import Server, start_server, stop_server, wait_until

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter


def served_count(server: Server) -> int:
    stats = httpx.get(f"{server.url}/v2/models/scorer/stats").json()["model_stats"]
    return int(stats[0]["inference_count"]) if stats else 0


def test_traffic_moves_to_the_survivor_when_a_server_dies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_DISCOVERY__HEARTBEAT_S", "0.5")
    home = tmp_path / "home"
    registry = Registry.from_settings(Settings(home=home))
    registry.register(examples.mlp_onnx(tmp_path / "scorer.onnx"), name="scorer")
    registry.set_alias("scorer", "production", 1)
    servers = [start_server(["scorer@production"], home) for _ in range(2)]
    client = Client(registry=registry, refresh_s=0.5, timeout_s=5.0)
    x = {"x": np.ones((1, 32), np.float32)}
    wait_until(lambda: len(registry.servers("scorer")) >= 2, 20, 0.1, what="two servers announced")
    failures: list[BaseException] = []
    calls = [0]
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                client.infer("scorer@production", x)
                calls[0] += 1
            except Exception as exc:  # every failure is a test failure; keep them to show
                failures.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        before = [served_count(s) for s in servers]
        assert min(before) > 0, before  # both servers took traffic
        servers[0].process.kill()  # no goodbye: the registry still lists it until its heartbeat goes stale
        servers[0].process.wait(timeout=10)
        survivor_before, calls_at_kill = served_count(servers[1]), calls[0]
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        survivor_gain, calls_after = served_count(servers[1]) - survivor_before, calls[0] - calls_at_kill
    finally:
        stop.set()
        client.close()
        for s in servers:
            stop_server(s)
        registry.close()
    assert not failures, failures[:3]
    assert calls_after > 50
    assert survivor_gain >= calls_after * 0.95  # (a call in flight at the kill may have been counted twice)
