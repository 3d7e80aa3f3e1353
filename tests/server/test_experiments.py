"""Shadow and canary in a real server: who answers, what is logged as pairs, and a canary that withdraws itself."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pyarrow.compute as pc
import pytest

from modelyard import examples
from modelyard.registry import Registry
from modelyard.server.experiments import CanaryGuard
from modelyard.settings import Settings
from modelyard.testing import assert_one_line_error, run_cli, start_server, stop_server
from modelyard.validation import Policy
from modelyard.validation.run import judge_shadow

BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
FAILING = """
import numpy as np

class Broken:
    # Answers its example (registration runs it), fails on the requests below (their rows sum to 10).

    def predict(self, inputs):
        x = inputs["x"]
        if np.isclose(x.sum(axis=1), 10).any():
            raise ValueError("this candidate is broken")
        return {"y": np.zeros((len(x), 2), np.float32)}
"""


def test_the_canary_guard_withdraws_a_canary_that_fails_more_than_production_tick_by_tick() -> None:
    guard = CanaryGuard(min_requests=10, max_excess=0.05)
    for _ in range(100):
        guard.observe("baseline", failed=False)
    for i in range(9):
        guard.observe("candidate", failed=True)
        assert not guard.withdraw(), i  # too few to judge
    guard.observe("candidate", failed=True)
    assert guard.withdraw()
    fair = CanaryGuard(min_requests=10, max_excess=0.05)
    for i in range(200):
        fair.observe("baseline", failed=i % 10 == 0)  # production fails 10 %
        fair.observe("candidate", failed=i % 9 == 0)  # the canary 11 %: within the excess allowed
    assert not fair.withdraw()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fraud 1 (production), 2 (other weights), 3 (1's bytes), 4 (a Python class that raises on real traffic)."""
    work = tmp_path_factory.mktemp("experiments")
    home = work / "home"
    first = examples.mlp_onnx(work / "a.onnx", sizes=(4, 8, 2), seed=1)
    for path in (first, examples.mlp_onnx(work / "b.onnx", sizes=(4, 8, 2), seed=3), first):
        run_cli(home, "models", "register", str(path), "--name", "fraud")
    (work / "broken.py").write_text(FAILING)
    np.save(work / "x.npy", np.ones((1, 4), np.float32))
    run_cli(home, "models", "register", str(work / "broken.py"), "--name", "fraud", "--class", "Broken",
            "--example", str(work / "x.npy"))  # fmt: skip
    run_cli(home, "alias", "set", "fraud@production", "1")
    return home


pytestmark = pytest.mark.e2e


def call(server_url: str, user: str | None = None, path: str = "/v2/models/fraud/infer",
         client: httpx.Client | None = None) -> httpx.Response:  # fmt: skip
    body = {**BODY, "parameters": {"user": user}} if user else BODY
    return (client or httpx).post(f"{server_url}{path}", json=body, timeout=10)


def test_a_canary_answers_its_share_sticky_by_user_and_names_the_version(home: Path) -> None:
    server = start_server(["fraud@production", "--canary", "fraud/2:30%", "--canary-key", "user", "--grpc-port", "0"],
                          home)  # fmt: skip
    try:
        answered: dict[str, set[str]] = {}
        for i in range(120):
            user = f"u{i % 30}"
            answered.setdefault(user, set()).add(call(server.url, user).json()["model_version"])
        assert all(len(v) == 1 for v in answered.values())  # one user, one version
        share = sum(v == {"2"} for v in answered.values()) / len(answered)
        assert 0.05 < share < 0.6
        assert call(server.url, path="/v2/models/fraud/versions/1/infer").json()["model_version"] == "1"
    finally:
        stop_server(server)


def test_a_failing_canary_withdraws_itself(home: Path) -> None:
    server = start_server(["fraud@production", "--canary", "fraud/4:50%", "--grpc-port", "0"], home)
    try:
        outcomes = [call(server.url).status_code for _ in range(300)]
        assert 500 in outcomes[:150]  # the broken canary answered some
        assert outcomes[-100:] == [200] * 100  # then production alone
        assert "canary fraud/4 withdrawn" in server.log.read_text()
    finally:
        stop_server(server)


def candidate_stats(url: str, rows: int) -> dict[str, Any]:
    """The shadow candidate's statistics once it has run `rows` rows (its batches gather for up to 50 ms)."""
    deadline = time.monotonic() + 10
    while True:
        (stats,) = httpx.get(f"{url}/v2/models/fraud/versions/3/stats").json()["model_stats"]
        if stats["inference_count"] >= rows or time.monotonic() > deadline:
            return dict(stats)
        time.sleep(0.05)


def test_a_shadow_logs_pairs_and_validate_judges_them(home: Path) -> None:
    server = start_server(["fraud@production", "--shadow", "fraud/3", "--grpc-port", "0"], home)
    try:
        with httpx.Client() as client:  # one connection: a new client each call (its TLS context) took 50 ms here
            answered = {call(server.url, client=client).json()["model_version"] for _ in range(40)}
        assert answered == {"1"}  # production answers
        shadowed = candidate_stats(server.url, rows=40)
        assert shadowed["execution_count"] < 20  # its calls gather into batches, idle or not (one each without)
    finally:
        stop_server(server)  # a stop waits for the shadow calls pending and writes the pairs
    report = run_cli(home, "validate", "fraud", "--candidate", "3", "--shadow", "--json").stdout
    validation = json.loads(report)
    assert (validation["verdict"], validation["requests"], validation["source"]) == ("pass", 40, "shadow pairs")
    server = start_server(["fraud@production", "--shadow", "fraud/2", "--grpc-port", "0"], home)
    try:
        for _ in range(40):
            call(server.url)
    finally:
        stop_server(server)
    failed = run_cli(home, "validate", "fraud", "--candidate", "2", "--shadow", ok=False)
    assert failed.returncode == 10
    assert "FAIL: y: within tolerance" in failed.stdout


def shadow_process(server_pid: int) -> psutil.Process:
    """The shadow's candidate: a process of the server's own, started with the worker."""
    deadline = time.monotonic() + 10
    while True:
        found = [p for p in psutil.Process(server_pid).children(recursive=True)
                 if "modelyard.server.shadow.child" in p.cmdline()]  # fmt: skip
        if found or time.monotonic() > deadline:
            (child,) = found
            return child
        time.sleep(0.05)


def test_the_shadow_runs_in_its_own_process_at_the_lowest_priority_and_its_crash_spares_production(
    home: Path,
) -> None:
    server = start_server(["fraud@production", "--shadow", "fraud/3", "--grpc-port", "0"], home)
    try:
        child = shadow_process(server.process.pid)
        assert child.nice() == 19  # its threads inherit it: ONNX Runtime's, its batches'
        if hasattr(os, "SCHED_IDLE"):
            assert os.sched_getscheduler(child.pid) == os.SCHED_IDLE  # it runs on cores nothing else wants
        for _ in range(10):
            assert call(server.url).json()["model_version"] == "1"
        assert candidate_stats(server.url, rows=10)["inference_count"] == 10  # reported back by its process
        child.kill()  # a crash in the candidate's runtime
        child.wait(10)
        deadline = time.monotonic() + 10
        while "shadow fraud/3 stopped" not in server.log.read_text() and time.monotonic() < deadline:
            assert call(server.url).status_code == 200  # production answers meanwhile
            time.sleep(0.05)
        assert "shadow fraud/3 stopped: its process exited" in server.log.read_text()
        dropped_before = shadow_dropped(server.url)
        assert [call(server.url).status_code for _ in range(20)] == [200] * 20  # production goes on alone
        assert server.process.poll() is None
        assert shadow_dropped(server.url) == dropped_before + 20  # counted, not sent
    finally:
        stop_server(server)


def shadow_dropped(url: str) -> float:
    (line,) = [
        x for x in httpx.get(f"{url}/metrics").text.splitlines() if x.startswith("modelyard_shadow_dropped_total")
    ]
    return float(line.rpartition(" ")[2])


def test_a_shadowed_request_sampled_by_the_log_too_is_recorded_once(home: Path) -> None:
    started = time.time()
    server = start_server(["fraud@production", "--shadow", "fraud/3", "--log-sample", "1", "--grpc-port", "0"],
                          home)  # fmt: skip
    asking = {**BODY, "outputs": [{"name": "y"}]}  # production's half logged by its batch, which has every output
    try:
        for i in range(40):
            assert httpx.post(f"{server.url}/v2/models/fraud/infer", json=asking if i % 2 else BODY).status_code == 200
    finally:
        stop_server(server)
    with Registry.from_settings(Settings(home=home)) as registry:
        table = registry.traffic("fraud", since=started).table
        judged = judge_shadow(registry, registry.get("fraud/1"), registry.get("fraud/3"), Policy(), since=started)
    production = table.filter(pc.equal(table["version"], "1")).column("request_id").to_pylist()
    assert len(production) == len(set(production)) == 40  # once per request, not once more for the shadow
    shadowed = table.filter(pc.equal(table["alias"], "shadow")).column("request_id").to_pylist()
    assert sorted(shadowed) == sorted(production)  # every pair keyed by the same id
    assert (judged.verdict, judged.requests) == ("pass", 40)  # exactly this test's pairs: `since` to the ns


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["fraud@production", "--canary", "fraud/2"], "--canary fraud/2: give the share it answers"),
        (["fraud@production", "--canary", "fraud/2:150%"], "a share above 0 and at most 100%"),
        (["fraud/3", "--shadow", "fraud/2"], "serve the baseline by its alias too"),  # 3 has no alias
    ],
)
def test_bad_experiments_are_one_line(home: Path, args: list[str], text: str) -> None:
    assert_one_line_error(run_cli(home, "serve", *args, "--http-port", "0", ok=False), 2, text)


def test_pair_ids_are_unique_and_a_forked_worker_draws_a_prefix_of_its_own() -> None:
    import os

    from modelyard.server.experiments import pair_id

    assert len({pair_id() for _ in range(1000)}) == 1000
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # a prefork worker
        os.write(write, pair_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    theirs = os.read(read, 100).decode()
    os.close(read)
    os.close(write)
    assert theirs.split("-")[0] != pair_id().split("-")[0]
