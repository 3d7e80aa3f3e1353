"""`modelyard batch` and `modelyard jobs` as a user runs them: a real process, killed with SIGKILL half way and run
again; bad input refused in one line before any work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from modelyard import batch
from modelyard.testing import assert_one_line_error, run_cli, wait_until
from tests.batch.conftest import PICKY, features, python_package, write_parquet

SLOW = PICKY.replace("import numpy as np", "import time\nimport numpy as np").replace(
    '        x = inputs["x"]', '        time.sleep(0.01)  # slow enough to be killed half way\n        x = inputs["x"]'
)


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return python_package(tmp_path_factory.mktemp("slow"), SLOW)


def _done(out: Path) -> int:
    return len(list((out / "_done").glob("*.json"))) if (out / "_done").exists() else 0


@pytest.mark.e2e
def test_killed_half_way_the_same_command_finishes_the_job(slow: Path, tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    sources = [str(write_parquet(tmp_path / f"in-{i}.parquet", np.abs(features(600, seed=i)))) for i in range(6)]
    args = ["batch", str(slow), *sources, "--output", str(out), "--keep", "id", "--batch-size", "50"]
    env = {**os.environ, "MODELYARD_HOME": str(home)}
    job = subprocess.Popen([sys.executable, "-m", "modelyard", *args], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: _done(out) >= 2 or job.poll() is not None, timeout_s=60, what="two parts done")
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=10)
    killed_at = _done(out)
    assert 2 <= killed_at < 6, "the job ended before it could be killed half way"
    listed = orjson.loads(run_cli(home, "jobs", "--json").stdout)
    assert [j["status"] for j in listed] == ["interrupted"]

    again = run_cli(home, *args)
    assert f"{killed_at} of 6 parts done before" in again.stdout
    run_cli(home, *args[:-4], "--output", str(tmp_path / "whole"), "--keep", "id", "--batch-size", "50")
    resumed, whole = batch.results(str(out)), batch.results(str(tmp_path / "whole"))
    assert resumed.num_rows == 3600
    assert resumed.equals(whole)
    assert resumed["id"].to_pylist() == list(range(600)) * 6
    assert not list((out / "_tmp").iterdir())
    listed = orjson.loads(run_cli(home, "jobs", "picky", "--json").stdout)
    assert sorted((j["status"], j["rows"]) for j in listed) == [("done", 3600), ("done", 3600)]
    assert "done already" in run_cli(home, *args).stdout


@pytest.mark.e2e
def test_rows_that_fail_exit_10_and_bad_input_is_one_line(slow: Path, tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    x = np.abs(features(200))
    x[7, 2] = -3.0
    source = write_parquet(tmp_path / "in.parquet", x)
    proc = run_cli(home, "batch", str(slow), str(source), "-o", str(out), "--keep", "id", ok=False)
    assert proc.returncode == 10, proc.stderr
    assert "199 scored, 1 in errors/" in proc.stdout
    assert "negative input is not allowed" in proc.stdout
    assert batch.errors(str(out))["id"].to_pylist() == [7]

    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    other = write_parquet(tmp_path / "other.parquet", np.abs(features(10, seed=3)))
    before = sorted(p.name for p in out.rglob("*"))
    for args, text in [
        ((str(tmp_path / "broken.parquet"),), "not a readable parquet file"),
        ((str(source), "--keep", "nope"), "--keep nope"),
        ((str(other),), "holds another job's output"),
        ((str(source), "--format", "xml"), "--format xml"),
    ]:
        assert_one_line_error(run_cli(home, "batch", str(slow), *args, "-o", str(out), ok=False), 2, text)
    assert sorted(p.name for p in out.rglob("*")) == before
