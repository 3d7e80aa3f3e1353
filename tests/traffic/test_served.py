"""A real server recording its traffic: every worker writes its own files, a stop writes out what was sampled, the
counters reach /metrics, and the CLI lists and exports what was recorded."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from modelyard import Client, Registry
from modelyard.settings import Settings
from modelyard.testing import run_cli, start_server, stop_server, wait_until
from modelyard.traffic import list_files

pytestmark = pytest.mark.e2e


@pytest.fixture
def home(tmp_path: Path, mlp_path: Path) -> Path:
    home = tmp_path / "home"
    run_cli(home, "models", "register", str(mlp_path), "--name", "fraud")
    run_cli(home, "alias", "set", "fraud@production", "1")
    return home


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_two_workers_record_every_request_and_a_stop_loses_none(home: Path, tmp_path: Path) -> None:
    server = start_server(["fraud@production", "--workers", "2", "--log-sample", "1"], home)
    try:
        for i in range(60):  # a connection each: the kernel spreads them over both workers
            with Client(server.url) as client:
                client.infer("fraud@production", {"x": np.full((3, 4), i, np.float32)})
        bad = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
        assert httpx.post(f"{server.url}/v2/models/fraud/infer", json=bad).status_code == 400
        wait_until(lambda: metric(server.url, "modelyard_traffic_logged_total") >= 1, 15, what="logged counted")
    finally:
        stop_server(server)
    with Registry.from_settings(Settings(home=home)) as registry:
        everything = registry.traffic("fraud/1")
        assert everything.rows == 61  # SIGTERM wrote out what was still in the buffers
        assert everything.table.column("outcome").to_pylist().count("InvalidArgument") == 1
        production = registry.traffic("fraud@production")
        x = production.inputs()["x"]
        assert x.shape == (180, 4)
        assert sorted(set(x[:, 0].tolist())) == [float(i) for i in range(60)]
        assert production.outputs()["y"].shape == (180, 2)
    writers = {Path(f.path).name.split("-")[0] for f in list_files(str(home / "traffic"), "fraud")}
    assert len(writers) == 2  # each worker its own files
    listed = json.loads(run_cli(home, "traffic", "list", "fraud", "--json").stdout)
    assert sum(p["files"] for p in listed["partitions"]) >= 2
    run_cli(home, "traffic", "export", "fraud@production", "--since", "1h", "--output", str(tmp_path / "w.parquet"))
    assert pq.read_table(tmp_path / "w.parquet").num_rows == 60


def test_sampling_by_a_request_parameter_keeps_a_users_requests_together(home: Path) -> None:
    server = start_server(["fraud@production", "--log-sample", "0.5", "--log-key", "user", "--grpc-port", "0"], home)
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]}]}
    users = [f"u{i}" for i in range(40)]
    try:
        for _ in range(3):
            for user in users:
                answer = httpx.post(f"{server.url}/v2/models/fraud/infer", json={**body, "parameters": {"user": user}})
                assert answer.status_code == 200
    finally:
        stop_server(server)
    with Registry.from_settings(Settings(home=home)) as registry:
        window = registry.traffic("fraud")
    assert 0 < window.rows < 120
    assert window.rows % 3 == 0  # each user kept three times or not at all


def test_an_unsampled_server_writes_nothing_and_the_cli_says_so(home: Path) -> None:
    server = start_server(["fraud@production", "--grpc-port", "0"], home)
    try:
        with Client(server.url) as client:
            client.infer("fraud@production", {"x": np.zeros((1, 4), np.float32)})
    finally:
        stop_server(server)
    proc = run_cli(home, "traffic", "list", "fraud", ok=False)
    assert proc.returncode == 3
    assert "serve it with --log-sample" in proc.stderr
