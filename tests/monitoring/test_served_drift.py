"""Drift in the server: a version served from the registry with its reference profile tallies its traffic off the
request path, summed over the workers, and says the same as `modelyard drift` on the same traffic."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard import Client, examples
from modelyard.testing import run_cli, start_server, stop_server, wait_until

pytestmark = pytest.mark.e2e


def test_two_workers_tally_drift_and_agree_with_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    np.savez(tmp_path / "ref.npz", x=np.random.default_rng(0).normal(size=(20_000, 4)).astype(np.float32))
    run_cli(home, "models", "register", str(examples.mlp_onnx(tmp_path / "m.onnx", sizes=(4, 8, 2))), "--name",
            "fraud", "--reference", str(tmp_path / "ref.npz"))  # fmt: skip
    run_cli(home, "alias", "set", "fraud@production", "1")
    server = start_server(["fraud@production", "--workers", "2", "--log-sample", "1", "--grpc-port", "0"], home)
    rng = np.random.default_rng(1)
    try:
        for _ in range(4):  # several connections: both workers answer some
            with Client(server.url) as client:
                for _ in range(150):
                    x = rng.normal(size=(1, 4)).astype(np.float32) + np.array([[0, 2, 0, 0]], np.float32)
                    client.infer("fraud@production", {"x": x})
        url = f"{server.url}/v2/models/fraud/drift"
        served = wait_until(lambda: (r := httpx.get(url, timeout=5).json())["rows"] == 600 and r, timeout_s=30)
        metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
    finally:
        stop_server(server)
    verdicts = {f["name"]: f["drift"] for f in served["features"]}
    # the answers moved with x[1]: prediction drift, against the model's outputs on the reference data
    assert verdicts == {"x[0]": False, "x[1]": True, "x[2]": False, "x[3]": False,
                        "output.y[0]": True, "output.y[1]": True}  # fmt: skip
    assert served["drift"] is True
    assert 'modelyard_feature_drift{feature="x[1]",model="fraud",version="1"} 1.0' in metrics
    assert 'modelyard_feature_drift{feature="x[0]",model="fraud",version="1"} 0.0' in metrics
    cli = json.loads(run_cli(home, "drift", "fraud/1", "--json", ok=False).stdout)
    by_cli = {f["name"]: (f["drift"], f["statistic"]) for f in cli["features"]}
    assert by_cli == {f["name"]: (f["drift"], f["statistic"]) for f in served["features"]}  # the same counts


def test_a_version_without_a_reference_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_cli(home, "models", "register", str(examples.mlp_onnx(tmp_path / "m.onnx", sizes=(4, 8, 2))), "--name", "f")
    server = start_server(["f/1", "--grpc-port", "0"], home)
    try:
        answer = httpx.get(f"{server.url}/v2/models/f/drift", timeout=5)
    finally:
        stop_server(server)
    assert answer.status_code == 409
    assert "loaded without a reference profile: modelyard reference set f/1 DATA" in answer.json()["error"]


def test_input_checks_warn_by_default_and_reject_when_told(tmp_path: Path) -> None:
    home = tmp_path / "home"
    np.savez(tmp_path / "ref.npz", x=np.random.default_rng(0).normal(size=(20_000, 4)).astype(np.float32))
    run_cli(home, "models", "register", str(examples.mlp_onnx(tmp_path / "m.onnx", sizes=(4, 8, 2))), "--name",
            "fraud", "--reference", str(tmp_path / "ref.npz"))  # fmt: skip
    outlier = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 50, 0]}]}
    normal = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0, 0.5, 0, 0]}]}
    server = start_server(["fraud/1", "--grpc-port", "0"], home)
    try:
        assert httpx.post(f"{server.url}/v2/models/fraud/infer", json=outlier, timeout=5).status_code == 200
        counted = 'modelyard_input_violations_total{feature="x[2]",model="fraud",rule="range",version="1"} 1.0'
        wait_until(lambda: counted in httpx.get(f"{server.url}/metrics", timeout=5).text, timeout_s=20)  # counted
    finally:  # off the request path, within a second
        stop_server(server)
    server = start_server(["fraud/1", "--input-checks", "reject", "--grpc-port", "0"], home)
    try:
        refused = httpx.post(f"{server.url}/v2/models/fraud/infer", json=outlier, timeout=5)
        accepted = httpx.post(f"{server.url}/v2/models/fraud/infer", json=normal, timeout=5)
    finally:
        stop_server(server)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("input x[2]: 50 is outside the reference's range")
    assert "(rule: range" in refused.json()["error"]
    assert accepted.status_code == 200
