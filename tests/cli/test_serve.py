"""What `modelyard serve` prints before it serves: the lines a newcomer copies must work as printed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from modelyard.testing import start_server, stop_server

pytestmark = pytest.mark.e2e


def test_the_banners_curl_and_python_lines_work_as_printed(mlp_path: Path, tmp_path: Path) -> None:
    """The Python line names the interpreter that has modelyard and httpx (`python` on PATH may have neither)."""
    server = start_server([str(mlp_path), "--name", "fraud", "--grpc-port", "0"], tmp_path / "home")
    try:
        lines = server.log.read_text().splitlines()
        curl = lines[lines.index("try:") + 1].strip()
        python = lines[lines.index("or from Python:") + 1].strip()
        assert not python.startswith("python ")
        for line in (curl, python):
            answer = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=60)
            assert answer.returncode == 0, answer.stderr
            assert "outputs" in answer.stdout, line
    finally:
        stop_server(server)
