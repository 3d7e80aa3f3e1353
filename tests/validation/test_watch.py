"""The gate's watch on the servers' counters: /metrics parsed per version, summed over servers, p99 from buckets;
and, with a real server following the registry, a promotion the gate rolls back on what /metrics says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard import examples
from modelyard.registry import Registry, Validation
from modelyard.settings import Settings
from modelyard.testing import run_cli, start_server, stop_server, wait_until
from modelyard.validation import Policy
from modelyard.validation.gate import Gate
from modelyard.validation.watch import Counts, merged, parse, quantile, scrape

TEXT = """# HELP modelyard_requests_total Requests by outcome.
# TYPE modelyard_requests_total counter
modelyard_requests_total{model="fraud",outcome="success",version="1"} 90.0
modelyard_requests_total{model="fraud",outcome="error",version="1"} 10.0
modelyard_requests_total{model="other",outcome="success",version="1"} 5.0
# HELP modelyard_request_duration_seconds Time from decoded request to response.
# TYPE modelyard_request_duration_seconds histogram
modelyard_request_duration_seconds_bucket{le="0.001",model="fraud",version="1"} 50.0
modelyard_request_duration_seconds_bucket{le="0.01",model="fraud",version="1"} 98.0
modelyard_request_duration_seconds_bucket{le="+Inf",model="fraud",version="1"} 100.0
modelyard_request_duration_seconds_count{model="fraud",version="1"} 100.0
modelyard_request_duration_seconds_sum{model="fraud",version="1"} 0.3
"""


def test_metrics_text_becomes_counts_per_version_of_one_model() -> None:
    (only,) = parse(TEXT, "fraud").items()
    assert only[0] == "1"
    assert (only[1].ok, only[1].errors) == (90, 10)
    assert only[1].buckets == ((0.001, 50.0), (0.01, 98.0), (float("inf"), 100.0))
    assert parse(TEXT, "nobody") == {}


def test_p99_is_interpolated_in_its_bucket_as_histogram_quantile_does() -> None:
    buckets = ((0.001, 50.0), (0.01, 98.0), (float("inf"), 100.0))
    assert quantile(0.5, buckets) == pytest.approx(0.001)
    assert quantile(0.74, buckets) == pytest.approx(0.001 + 0.009 * 24 / 48)
    assert quantile(0.99, buckets) == pytest.approx(0.01)  # in the infinite bucket: the largest finite bound
    assert quantile(0.99, ()) == 0.0


def test_servers_add_up() -> None:
    one = Counts(90, 10, ((0.001, 50.0), (float("inf"), 100.0)))
    total = merged([{"1": one}, {"1": one, "2": Counts(5, 0, ())}])
    assert (total["1"].ok, total["1"].errors, total["1"].buckets[-1][1]) == (180, 20, 200.0)
    assert total["1"].served().error_rate == pytest.approx(0.1)
    assert total["2"].served().requests == 5


FAILING = """
import numpy as np

class Flaky:
    # Answers its example (registration runs it); fails every request whose first value is negative.

    def predict(self, inputs):
        x = inputs["x"]
        if (x[:, 0] < 0).any():
            raise ValueError("this version is broken on half the traffic")
        return {"y": np.zeros((len(x), 2), np.float32)}
"""


@pytest.mark.e2e
def test_the_gate_rolls_back_on_what_the_servers_count(tmp_path: Path) -> None:
    """A server follows production; the gate promotes a version (its validation injected: a recorded pass that real
    traffic then contradicts), reads production's figures from /metrics before the move and the new version's after, and
    rolls back by itself, naming /metrics as its source. The traffic log is off: the counters are all it has."""
    home = tmp_path / "home"
    run_cli(home, "models", "register", str(examples.mlp_onnx(tmp_path / "a.onnx", sizes=(4, 8, 2))), "--name", "fraud")
    (tmp_path / "flaky.py").write_text(FAILING)
    np.save(tmp_path / "x.npy", np.ones((1, 4), np.float32))
    run_cli(home, "models", "register", str(tmp_path / "flaky.py"), "--name", "fraud", "--class", "Flaky",
            "--example", str(tmp_path / "x.npy"))  # fmt: skip
    run_cli(home, "alias", "set", "fraud@production", "1")
    run_cli(home, "alias", "set", "fraud@staging", "2")
    server = start_server(["fraud@production", "--follow", "--announce", "--grpc-port", "0"], home)
    rng = np.random.default_rng(0)

    def call(count: int) -> list[int]:
        codes = []
        for _ in range(count):
            x = rng.normal(size=4).astype(np.float32).tolist()
            body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": x}]}
            codes.append(httpx.post(f"{server.url}/v2/models/fraud@production/infer", json=body, timeout=10)
                         .status_code)  # fmt: skip
        return codes

    try:
        assert set(call(150)) == {200}
        with Registry.from_settings(Settings(home=home)) as registry:
            registry.record_validation(Validation(0, "fraud", 1, 2, "", "", "", 500, "injected",
                                                  Policy(auto_promote=True).model_dump(), (), "pass", "",
                                                  datetime.now(UTC)))  # fmt: skip
            gate = Gate.replaying(registry, "fraud", Policy(auto_promote=True), tmp_path / "cache")
            action, _ = gate.step()
            assert action == "promote"
            before = registry.history("fraud", "production")[-1].evidence["before"]
            assert (before["requests"], before["errors"], before["source"]) == (150, 0, "metrics")
            wait_until(lambda: scrape([server.url], "fraud")[0].get("2") is not None, timeout_s=30)
            codes = call(150)
            assert 500 in codes  # the new version fails about half
            action, line = gate.step()
            assert action == "rollback", line
            assert "error rate" in line
            assert "(the servers' /metrics)" in line
            assert registry.get("fraud@production").version == 1
            assert "the gate rolled back: error rate" in registry.history("fraud", "production")[-1].reason
    finally:
        stop_server(server)
