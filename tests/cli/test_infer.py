"""`modelyard infer`: in this process by default, against a server with --url, the same answer either way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelyard.runtimes.onnx import OnnxRuntime
from modelyard.testing import assert_one_line_error, run_cli, start_server, stop_server

pytestmark = pytest.mark.e2e
X = np.random.default_rng(3).normal(size=(25, 4)).astype(np.float32)


@pytest.fixture
def home(tmp_path: Path, mlp_path: Path) -> Path:
    home = tmp_path / "home"
    run_cli(home, "models", "register", str(mlp_path), "--name", "fraud")
    run_cli(home, "alias", "set", "fraud@production", "1")
    np.save(tmp_path / "rows.npy", X)
    return home


def test_infer_in_process_matches_the_runtime_in_every_output_form(home: Path, mlp_path: Path, tmp_path: Path) -> None:
    expected = OnnxRuntime(mlp_path).predict({"x": X})["y"]
    shown = run_cli(home, "infer", "fraud@production", "--input", f"x={tmp_path / 'rows.npy'}", "--json")
    answer = json.loads(shown.stdout)
    assert (answer["model_name"], answer["model_version"]) == ("fraud", "1")
    np.testing.assert_allclose(answer["outputs"]["y"], expected, rtol=1e-6)
    run_cli(
        home, "infer", str(mlp_path), "--name", "m", "-i", f"x={tmp_path / 'rows.npy'}", "-o", str(tmp_path / "y.npy")
    )
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6)
    table = run_cli(home, "infer", "fraud/1", "-i", f"x={tmp_path / 'rows.npy'}").stdout
    assert "fraud version 1" in table
    assert "5 more rows" in table  # 25 rows, 20 shown


def test_infer_against_a_server_gives_the_same_answer(home: Path, tmp_path: Path) -> None:
    server = start_server(["fraud@production", "--grpc-port", "0"], home)
    try:
        args = ["fraud@production", "-i", f"x={tmp_path / 'rows.npy'}", "--json"]
        remote = json.loads(run_cli(home, "infer", *args, "--url", server.url).stdout)
    finally:
        stop_server(server)
    local = json.loads(run_cli(home, "infer", *args).stdout)
    assert remote == local


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["fraud@production"], 2, "--input: give the model's inputs (x)"),
        (["fraud@production", "-i", "w={rows}"], 2, "the model has no input 'w'"),
        (["fraud@staging", "-i", "x={rows}"], 3, "staging"),
        (["missing.onnx", "-i", "x={rows}"], 3, "no such file or folder: missing.onnx"),
        (["fraud@production", "-i", "x={rows}", "--url", "http://127.0.0.1:9"], 6, "127.0.0.1:9"),
    ],
)
def test_infer_errors_are_one_line(home: Path, tmp_path: Path, args: list[str], code: int, text: str) -> None:
    argv = [a.format(rows=tmp_path / "rows.npy") for a in args]
    assert_one_line_error(run_cli(home, "infer", *argv, ok=False), code, text)
