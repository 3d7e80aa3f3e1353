"""Reference profiles stored with a version and drift reports: from files, and from recorded traffic split where
the alias moved, through the CLI a user runs; bad input is one line and stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard import Client, examples
from modelyard.registry import Registry
from modelyard.settings import Settings
from modelyard.testing import assert_one_line_error, run_cli, start_server, stop_server, wait_until

pytestmark = pytest.mark.e2e


def table(x: np.ndarray, path: Path, side_by_side: bool = False) -> Path:
    if side_by_side:
        pq.write_table(pa.table({f"f{i}": x[:, i] for i in range(x.shape[1])}), path)
    else:
        pq.write_table(pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), x.shape[1])}), path)
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fraud 1 and 2 (4 inputs), registered with a reference of 20,000 standard normal rows; production at 1."""
    work = tmp_path_factory.mktemp("drift")
    home = work / "home"
    reference = table(np.random.default_rng(0).normal(size=(20_000, 4)).astype(np.float32), work / "ref.parquet")
    for seed in (1, 2):
        model = examples.mlp_onnx(work / f"m{seed}.onnx", sizes=(4, 8, 2), seed=seed)
        run_cli(home, "models", "register", str(model), "--name", "fraud", "--reference", str(reference))
    run_cli(home, "alias", "set", "fraud@production", "1")
    return home


def drifted(home: Path, *args: str, code: int) -> dict:  # type: ignore[type-arg]
    proc = run_cli(home, "drift", *args, "--json", ok=False)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def verdicts(report: dict) -> dict[str, bool | None]:  # type: ignore[type-arg]
    return {f["name"]: f["drift"] for f in report["features"]}


def test_a_file_drifts_where_a_feature_moved_at_40_rows_and_at_a_million(home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for rows in (40, 1_000_000):
        x = rng.normal(size=(rows, 4)).astype(np.float32)
        x[:, 2] += 1.5
        path = table(x, tmp_path / f"cur{rows}.parquet", side_by_side=True)  # columns side by side: the one input
        found = verdicts(drifted(home, "fraud@production", "--data", str(path), code=10))
        assert found["x[2]"] is True
        others = {found[f"x[{i}]"] for i in (0, 1, 3)}
        assert others == ({None} if rows == 40 else {False}) or (rows == 40 and True not in others)
    same = table(rng.normal(size=(5_000, 4)).astype(np.float32), tmp_path / "same.parquet")
    report = drifted(home, "fraud/1", "--data", str(same), code=0)
    assert set(verdicts(report).values()) == {False}
    assert run_cli(home, "reference", "show", "fraud/1").stdout.count("20,000") == 6  # 4 inputs, 2 outputs


def test_traffic_windows_split_where_the_alias_moved_each_against_its_version(home: Path) -> None:
    server = start_server(["fraud@production", "--follow", "--log-sample", "1", "--grpc-port", "0"], home)
    rng = np.random.default_rng(4)
    try:
        with Client(server.url) as client:
            for _ in range(300):
                client.infer("fraud@production", {"x": rng.normal(size=(1, 4)).astype(np.float32)})
            run_cli(home, "alias", "set", "fraud@production", "2")
            metadata = f"{server.url}/v2/models/fraud@production"
            wait_until(lambda: httpx.get(metadata, timeout=5).json()["versions"] == ["2"], timeout_s=30)  # followed
            for _ in range(300):
                shifted = rng.normal(size=(1, 4)).astype(np.float32) + np.array([[0, 0, 0, 3]], np.float32)
                client.infer("fraud@production", {"x": shifted})
    finally:
        stop_server(server)
        run_cli(home, "alias", "set", "fraud@production", "1")
    report = drifted(home, "fraud@production", "--since", "10m", code=10)
    first, second = report["windows"][-3:-1] if len(report["windows"]) > 2 else report["windows"][:2]
    assert (first["version"], second["version"]) == (1, 2)  # a window per version, cut at the move
    assert first["drift"] is False  # version 1 saw what its reference holds
    assert {f["name"]: f["drift"] for f in second["features"]}["x[3]"] is True  # version 2 saw x[3] move
    assert first["rows"] >= 300


def test_a_reference_from_data_holds_the_models_outputs_on_it(home: Path) -> None:
    """Registered with input data only, the reference has the outputs too: the rows went through the model."""
    with Registry.from_settings(Settings(home=home)) as registry:
        stored = registry.reference("fraud/1")
    assert stored is not None
    assert {"x[0]", "output.y[0]", "output.y[1]"} <= set(stored.profile["features"])
    assert stored.profile["features"]["output.y[0]"]["rows"] == 20_000
    assert "outputs: the model's" in stored.profile["source"]


def test_a_reference_from_traffic_holds_the_outputs_too(home: Path) -> None:
    run_cli(home, "reference", "set", "fraud/2", "--from-traffic", "fraud/1", "--since", "1h")
    with Registry.from_settings(Settings(home=home)) as registry:
        stored = registry.reference("fraud/2")
    assert stored is not None
    assert {"x[0]", "output.y[0]", "output.y[1]"} <= set(stored.profile["features"])
    assert stored.source == "traffic of fraud/1 since 1h"


def test_without_a_registry_a_file_against_a_file(home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ref = table(rng.normal(size=(3_000, 4)).astype(np.float32), tmp_path / "a.parquet", side_by_side=True)
    cur = rng.normal(size=(3_000, 4)).astype(np.float32)
    cur[:, 0] *= 3
    found = verdicts(drifted(home, "--data", str(table(cur, tmp_path / "b.parquet", side_by_side=True)),
                             "--reference", str(ref), code=10))  # fmt: skip
    assert found == {"f0": True, "f1": False, "f2": False, "f3": False}


def test_bad_input_is_one_line_and_stores_nothing(home: Path, tmp_path: Path) -> None:
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 not really")
    pq.write_table(pa.table({"a": [1.0], "b": [2.0]}), tmp_path / "two.parquet")
    wide = table(np.zeros((10, 5), np.float32), tmp_path / "wide.parquet")
    empty = table(np.zeros((0, 4), np.float32), tmp_path / "empty.parquet")
    cases = [
        (["reference", "set", "fraud/1", str(tmp_path / "corrupt.parquet")], 2, "not a readable Parquet file"),
        (["reference", "set", "fraud/1", str(wide)], 2, "input 'x' has shape [5] per row; fraud/1 takes [4]"),
        (["reference", "set", "fraud/1", str(tmp_path / "nope.parquet")], 2, "no such file"),
        (["reference", "set", "fraud/1", str(empty)], 2, "holds no rows"),
        (["drift", "fraud/1", "--data", str(tmp_path / "two.parquet")], 2, "input 'x' has shape [2] per row"),
        (
            ["drift", "--data", str(tmp_path / "two.parquet"), "--reference", str(wide)],
            2,
            "has none of the reference's features (x[0], x[1], x[2], x[3], ...)",
        ),
        (["drift", "fraud/9", "--data", str(empty)], 3, "no version 9"),
        (
            [
                "models",
                "register",
                str(tmp_path / "x.onnx"),
                "--name",
                "other",
                "--reference",
                str(tmp_path / "corrupt.parquet"),
            ],
            2,
            "not a readable Parquet file",
        ),
    ]
    examples.mlp_onnx(tmp_path / "x.onnx", sizes=(4, 8, 2))
    for args, code, text in cases:
        assert_one_line_error(run_cli(home, *args, ok=False), code, text)
    with Registry.from_settings(Settings(home=home)) as registry:
        stored = registry.reference("fraud/1")
        assert stored is not None
        assert stored.rows == 20_000  # still the one registered with it
        assert [m.name for m in registry.list_models().items] == ["fraud"]  # the failed registration left nothing


def test_a_canary_is_judged_against_production_over_the_same_span(home: Path) -> None:
    """`serve --canary` answers a share with version 2; `drift --canary 2` compares what it answered with what
    production answered at the same time: the same callers' inputs (no drift), another model's outputs."""
    server = start_server(["fraud@production", "--canary", "fraud/2:50%", "--log-sample", "1", "--grpc-port", "0"],
                          home)  # fmt: skip
    rng = np.random.default_rng(5)
    try:
        with Client(server.url) as client:
            for _ in range(600):
                client.infer("fraud@production", {"x": rng.normal(size=(1, 4)).astype(np.float32)})
    finally:
        stop_server(server)
    report = drifted(home, "fraud@production", "--canary", "2", "--since", "5m", code=10)
    (window,) = report["windows"]
    assert window["version"] == 2
    assert 200 <= window["rows"] <= 400  # half of 600, give or take the split
    assert "against version 1's" in window["note"]
    found = verdicts(report)
    assert {found[f"x[{i}]"] for i in range(4)} <= {False, None}  # the split sends both the same inputs
    assert True in {found["output.y[0]"], found["output.y[1]"]}  # another model: its answers moved
    proc = run_cli(home, "drift", "fraud/2", "--canary", "2", ok=False)
    assert_one_line_error(proc, 2, "give the alias the canary answers beside")
