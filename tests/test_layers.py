"""The import contracts of `make lint` (pyproject.toml, [tool.importlinter]) catch a forbidden import: a copy of the
package with two of them added fails, naming each broken contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import modelyard

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path) -> None:
    copy = tmp_path / "src" / "modelyard"
    shutil.copytree(Path(modelyard.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "client" / "policy.py").open("a") as f:
        f.write("\nimport modelyard.server.dataplane\n")
    with (copy / "server" / "process" / "supervisor.py").open("a") as f:
        f.write("\nimport numpy\n")
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    proc = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "The client and the load generator do not import the server BROKEN" in proc.stdout
    assert "The supervisor stays lean: no numpy, ONNX Runtime, uvicorn or pydantic BROKEN" in proc.stdout
    assert "Layers: each imports only what lies below it BROKEN" in proc.stdout  # client above nothing of server
    assert "modelyard.client.policy -> modelyard.server.dataplane" in proc.stdout
