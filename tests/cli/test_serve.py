"""What `modelyard serve` prints before it serves: the lines a newcomer copies must work as printed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from modelyard.testing import free_port, start_server, stop_server, wait_until

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


def test_demo_serves_on_the_ports_it_is_given(tmp_path: Path) -> None:
    http_port, grpc_port = free_port(), free_port()
    home = tmp_path / "home"
    process = subprocess.Popen(
        [sys.executable, "-m", "modelyard", "demo", "--http-port", str(http_port), "--grpc-port", str(grpc_port)],
        env={**os.environ, "MODELYARD_HOME": str(home)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{http_port}/v2/health/ready"

        def ready() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 120, 0.2, what="the demo's server ready on its port")
        with socket.create_connection(("127.0.0.1", grpc_port), timeout=5):
            pass  # gRPC listens where it was told
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{http_port}" in output
    assert f"127.0.0.1:{grpc_port}" in output
