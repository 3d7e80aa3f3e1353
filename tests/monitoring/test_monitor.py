"""The monitor, window by window, on a real traffic log and registry, alerting a real webhook on loopback: once
for drift that persists, not for one noisy window, not again while cooling down."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from modelyard import examples
from modelyard.drift import build, features
from modelyard.monitoring.alerts import MonitorPolicy
from modelyard.monitoring.monitor import Monitor
from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse
from modelyard.registry import Registry
from modelyard.testing import run_cli
from modelyard.traffic import Sampler, TrafficLog


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:  # type: ignore[type-arg]
    received: list[dict] = []  # type: ignore[type-arg]

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def record(registry: Registry, shift: float, rows: int = 400, seed: int = 0) -> None:
    assert registry.traffic_url is not None
    log = TrafficLog(registry.traffic_url, Sampler(1.0))
    rng = np.random.default_rng(seed)
    for i in range(rows):
        x = rng.normal(size=(1, 4)).astype(np.float32)
        x[:, 0] += shift
        request = InferRequest([InferInput("x", "FP32", (1, 4), x)], id=f"{seed}-{i}")
        log.record("fraud@production", "1", request, InferResponse("fraud", "1", [InferOutput("y", "FP32", x[:, :2])]),
                   1000)  # fmt: skip
    log.close()


def test_persistent_drift_alerts_once_and_a_noisy_window_does_not(registry: Registry, tmp_path: Path,
                                                                   webhook: tuple[str, list[dict]]) -> None:  # type: ignore[type-arg]  # fmt: skip
    url, received = webhook
    registry.register(examples.mlp_onnx(tmp_path / "m.onnx", sizes=(4, 8, 2)), name="fraud")
    reference = np.random.default_rng(9).normal(size=(20_000, 4)).astype(np.float32)
    registry.set_reference("fraud/1", build([features({"x": reference})]), "test")
    registry.set_alias("fraud", "production", 1)
    monitor = Monitor(registry, "fraud@production", MonitorPolicy(webhook=url))
    outcomes = []
    for seed, shift in enumerate((1.0, 0.0, 1.0, 1.0)):  # drift, a clean window, drift, drift
        started = time.time()
        time.sleep(0.01)
        record(registry, shift, seed=seed)
        now = time.time()
        monitor.clock = lambda now=now: now  # type: ignore[misc]
        monitor.policy = monitor.persistence.policy = MonitorPolicy(webhook=url, every_s=now - started)
        outcomes.append(monitor.step())
    assert [action for action, _ in outcomes] == ["drift", "fine", "alert", "drift"]  # the last: cooling down
    assert "x[0]" in outcomes[0][1]
    (alert,) = received
    assert (alert["model"], alert["version"], alert["features"][0]["name"]) == ("fraud", 1, "x[0]")
    assert [w["drift"] for w in alert["windows"]] == [True, False, True]
    (stored,) = registry.alerts("fraud")
    assert (stored.delivered, stored.status, stored.payload["features"]) == (True, "HTTP 200", alert["features"])


@pytest.mark.e2e
def test_the_cli_judges_a_window_and_lists_the_alerts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    reference = tmp_path / "ref.npz"
    np.savez(reference, x=np.random.default_rng(9).normal(size=(5_000, 4)).astype(np.float32))
    run_cli(home, "models", "register", str(examples.mlp_onnx(tmp_path / "m.onnx", sizes=(4, 8, 2))), "--name",
            "fraud", "--reference", str(reference))  # fmt: skip
    run_cli(home, "alias", "set", "fraud@production", "1")
    from modelyard.settings import Settings

    with Registry.from_settings(Settings(home=home)) as registry:
        record(registry, 1.0)
    (tmp_path / "monitor.yaml").write_text("every_s: 3600\nk: 1\nm: 1\n")
    run_cli(home, "policy", "set", "fraud", str(tmp_path / "monitor.yaml"), "--kind", "monitor")
    said = run_cli(home, "monitor", "fraud@production", "--once").stdout
    # x[0] moved, and the model's answers with it: the reference holds its outputs on the reference data too
    assert "alert: alert #1: version 1 drifts in output.y[0], output.y[1], x[0] (no webhook)" in said
    none = run_cli(home, "monitor", "fraud@production", "--once", "--every", "1s").stdout  # a window with no traffic
    assert "alert" not in none
    listed = json.loads(run_cli(home, "alerts", "fraud", "--json").stdout)
    assert [(a["version"], a["delivered"], a["status"]) for a in listed] == [(1, False, "no webhook")]


def test_alert_rules_carry_the_policy_for_alertmanager(tmp_path: Path) -> None:
    import yaml

    from modelyard.monitoring.rules import alert_rules

    (rule, violations) = yaml.safe_load(alert_rules(MonitorPolicy(k=3, every_s=120), "fraud"))["groups"][0]["rules"]
    assert rule["expr"] == 'max by (model, version, feature) (modelyard_feature_drift{model="fraud"}) == 1'
    assert rule["for"] == "6m"  # k windows of every_s
    assert 'rate(modelyard_input_violations_total{model="fraud"}[2m])' in violations["expr"]
    home = tmp_path / "home"
    printed = yaml.safe_load(run_cli(home, "monitor", "rules", "--every", "5m").stdout)
    assert printed["groups"][0]["rules"][0]["for"] == "10m"
