"""The server and the registry: `serve --follow` (alias moves and rollbacks under steady load, with several
workers), version policies, loading a registry version the server was not started with, discovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from modelyard import examples
from modelyard.registry import Registry
from modelyard.runtimes.onnx import OnnxRuntime
from modelyard.server.process.common import FOLLOWER
from modelyard.settings import Settings
from modelyard.testing import Server, start_server, stop_server, wait_until

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter

X = np.linspace(-1, 1, 32, dtype=np.float32).reshape(1, 32)
BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": X.ravel().tolist()}]}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELYARD_SERVER__FOLLOW_INTERVAL_S", "0.2")
    monkeypatch.setenv("MODELYARD_DISCOVERY__HEARTBEAT_S", "0.2")
    return tmp_path / "home"


@pytest.fixture
def registry(home: Path) -> Iterator[Registry]:
    with Registry.from_settings(Settings(home=home)) as registry:
        yield registry


def register_versions(registry: Registry, folder: Path, count: int) -> dict[str, np.ndarray]:
    """`count` versions of `scorer` with different weights; returns each version's output for X."""
    outputs = {}
    for seed in range(1, count + 1):
        path = examples.mlp_onnx(folder / f"v{seed}.onnx", seed=seed)
        version = registry.register(path, name="scorer")
        outputs[str(version.version)] = OnnxRuntime(path).predict({"x": X})["y"]
    return outputs


class SteadyLoad:
    """Client threads calling one URL in a closed loop, recording every answer."""

    def __init__(self, url: str, threads: int = 6) -> None:
        self.url = url
        self.stop = threading.Event()
        self.answers: list[tuple[int, str, list[float]]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    r = client.post(self.url, json=BODY)
                    answer = (
                        r.status_code,
                        r.json().get("model_version", r.json().get("error", "")),
                        r.json().get("outputs", [{}])[0].get("data"),
                    )
                except httpx.HTTPError as exc:
                    answer = (0, repr(exc), [])
                with self.lock:
                    self.answers.append(answer)

    def wait_for_version(self, version: str, timeout_s: float = 20) -> None:
        """Until the last 20 answers all come from `version`."""

        def moved() -> bool:
            with self.lock:
                recent = self.answers[-20:]
            return len(recent) == 20 and all(a[1] == version for a in recent)

        wait_until(moved, timeout_s, what=f"traffic on version {version} (last answers: {self.answers[-3:]})")

    def __enter__(self) -> SteadyLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def test_alias_move_and_rollback_under_steady_load(home: Path, registry: Registry, tmp_path: Path) -> None:
    outputs = register_versions(registry, tmp_path, 2)
    registry.set_alias("scorer", "production", 1)
    server = start_server(["scorer@production", "--follow", "--workers", "2"], home)
    try:
        with SteadyLoad(f"{server.url}/v2/models/scorer@production/infer") as load:
            load.wait_for_version("1")
            registry.set_alias("scorer", "production", 2)
            load.wait_for_version("2")
            registry.rollback("scorer", "production")
            load.wait_for_version("1")
        wait_until(lambda: loaded(server) == ["1"])  # 2 was drained and unloaded (asked of either worker)
    finally:
        stop_server(server)
    assert len(load.answers) > 100
    failed = [a for a in load.answers if a[0] != 200]
    assert not failed, failed[:3]
    assert {a[1] for a in load.answers} == {"1", "2"}
    for _, version, data in load.answers:  # each answer is wholly one version's
        np.testing.assert_allclose(data, outputs[version].ravel(), rtol=1e-5)


def test_version_policy_follows_new_versions(home: Path, registry: Registry, tmp_path: Path) -> None:
    register_versions(registry, tmp_path / "a", 2)
    server = start_server(["scorer", "--versions", "latest:2", "--follow"], home)
    try:
        assert loaded(server) == ["1", "2"]
        register_versions(registry, tmp_path / "b", 1)  # version 3
        wait_until(lambda: loaded(server) == ["2", "3"])
        answer = httpx.post(f"{server.url}/v2/models/scorer/infer", json=BODY).json()
        assert answer["model_version"] == "3"  # no version asked for: the newest
    finally:
        stop_server(server)


def test_load_a_registry_version_the_server_was_not_started_with(
    home: Path, registry: Registry, tmp_path: Path
) -> None:
    outputs = register_versions(registry, tmp_path, 2)
    server = start_server(["scorer/1", "--workers", "2"], home)
    try:
        url = f"{server.url}/v2/repository/models/scorer/load"
        bad = httpx.post(url, json={"parameters": {"version": "two"}})
        assert bad.status_code == 400
        assert "parameters.version" in bad.json()["error"]
        assert httpx.post(url, json={"parameters": {"version": "2"}}).json() == {
            "loaded": "scorer/2",
            "versions": ["2"],
        }
        # every worker loads it (the spec file is shared): all calls succeed within a second or so
        wait_until(lambda: all(call(server, "2").status_code == 200 for _ in range(20)))
        np.testing.assert_allclose(call(server, "2").json()["outputs"][0]["data"], outputs["2"].ravel(), rtol=1e-5)
        assert (
            httpx.post(
                f"{server.url}/v2/repository/models/scorer/unload", json={"parameters": {"version": "2"}}
            ).status_code
            == 200
        )
        wait_until(lambda: all(call(server, "2").status_code == 404 for _ in range(20)))
        assert call(server, "1").status_code == 200
    finally:
        stop_server(server)


def call(server: Server, version: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/models/scorer/versions/{version}/infer", json=BODY)


def loaded(server: Server) -> list[str]:
    index = httpx.post(f"{server.url}/v2/repository/index").json()
    return sorted(e["version"] for e in index if e["state"] == "READY")


def test_a_server_announces_itself_and_withdraws(home: Path, registry: Registry, tmp_path: Path) -> None:
    register_versions(registry, tmp_path, 1)
    registry.set_alias("scorer", "production", 1)
    server = start_server(["scorer@production"], home)
    try:
        wait_until(lambda: [s.ready for s in registry.servers("scorer@production")] == [True])
        (record,) = registry.servers("scorer")
        assert record.http_url == server.url
        assert record.grpc_url == f"127.0.0.1:{server.grpc_port}"
        assert [(m.name, m.version, m.aliases) for m in record.models] == [("scorer", "1", ("production",))]
        assert registry.servers("other") == []
        shown = subprocess.run(
            [sys.executable, "-m", "modelyard", "servers", "scorer", "--json"],
            env={**os.environ, "MODELYARD_HOME": str(home)}, capture_output=True, check=True,
        )  # fmt: skip
        assert json.loads(shown.stdout)[0]["http_url"] == server.url
        # Idle, announcing but not following, the follower sleeps between heartbeats: it used to spin on a follow
        # deadline that never advanced (a third of a core). The bound is loose (a heartbeat costs tens of ms of
        # CPU); the spin is 7x over it.
        (follower,) = [p for p in psutil.Process(server.process.pid).children() if FOLLOWER in " ".join(p.cmdline())]
        before = sum(follower.cpu_times()[:2])
        time.sleep(5.0)
        used = sum(follower.cpu_times()[:2]) - before
        assert used < 0.25, f"the follower used {used:.2f} s of CPU in 5 s idle"
    finally:
        stop_server(server)
    log = server.log.read_text()
    assert "alembic" not in log  # its INFO lines at each start
    assert "HTTP Request" not in log  # httpx's two lines per heartbeat, when the follower asked the server itself
    assert registry.servers(stale_after_s=3600) == []  # withdrawn on a clean stop, not only stale
