"""`modelyard ui` refuses, in one line and before it listens, what would leave it broken or open: a port taken,
a token too short to guard promote and rollback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.errors import InvalidArgument, PortInUse
from modelyard.testing import assert_one_line_error

pytestmark = pytest.mark.e2e


def ui(home: Path, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELYARD_HOME": str(home)}
    env.pop("MODELYARD_UI__TOKEN", None)
    if token is not None:
        env["MODELYARD_UI__TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "modelyard", "ui", *args], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip


def test_a_taken_port_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert_one_line_error(ui(tmp_path, "--port", str(port)), PortInUse.exit_code, f"--port {port}")


def test_a_short_token_is_refused_before_anything_listens(tmp_path: Path) -> None:
    proc = ui(tmp_path, "--port", "0", token="secret")
    assert_one_line_error(proc, InvalidArgument.exit_code, "MODELYARD_UI__TOKEN: at least 12 characters")
