"""The README's examples run as written: every `console` line and every `python` block."""

from __future__ import annotations

import json
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


def test_the_tour_runs_top_to_bottom_after_make_demo(tmp_path: Path) -> None:
    """Every `console` line, in order, in the registry `make demo` leaves (its models and aliases are there: the
    tour once asked for versions the demo's models did not have and fetched the demo's model for its own)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "MODELYARD_HOME": str(tmp_path / "home"), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    lines = ["modelyard demo --no-serve"]  # what `make demo` does before it serves
    lines += [line[2:] for block in blocks("console") for line in block.splitlines() if line.startswith("$ ")]
    for line in lines:
        proc = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr, line
    downloaded = (tmp_path / "churn-latest" / "modelyard.yaml").read_text()
    assert "churn" in downloaded
    shown = subprocess.run("modelyard models show churn --json", shell=True, env=env, capture_output=True, text=True)
    assert '"version": 2' in shown.stdout  # the tour's churn, after the demo's version 1
    digests = [
        json.loads(subprocess.run(f"modelyard models show fraud/{v} --json", shell=True, env=env,
                                  capture_output=True, text=True, check=True).stdout)["sha256"]
        for v in (1, 2)
    ]  # fmt: skip
    assert digests[0] != digests[1]  # "v2 beats v1 on auc" is said of two different models


def test_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    for block in blocks("python"):
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert (tmp_path / "scorer-v2" / "modelyard.yaml").is_file()
    assert len(list((tmp_path / "week-scores" / "_done").iterdir())) == 1  # the batch job's one part, marked done
    from modelyard import Registry

    with Registry.from_settings() as registry:  # the gate's walk-through: refused the other weights, promoted 3
        assert registry.get("gated@production").version == 3
        stored = registry.reference("watched/1")  # the drift walk-through's reference
        assert stored is not None
        assert stored.rows == 10_000
        verdicts = [v.verdict for v in registry.validations("gated")]
        assert verdicts == ["pass", "fail"]
        assert registry.history("gated", "production")[-1].evidence["by"] == "modelyard-gate"
