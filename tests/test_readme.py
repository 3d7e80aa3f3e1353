"""The README's examples run as written: every `console` line and every `python` block."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(blocks("console")) >= 3
    assert len(blocks("python")) >= 1


def test_console_examples_run(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "MODELYARD_HOME": str(tmp_path / "home"), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for block in blocks("console"):
        for line in block.splitlines():
            if not line.startswith("$ "):
                continue
            proc = subprocess.run(
                line[2:], shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
            assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"


def test_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    for block in blocks("python"):
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert (tmp_path / "scorer-v2" / "modelyard.yaml").is_file()
