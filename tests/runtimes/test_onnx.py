"""ONNX Runtime sessions: the options a package's manifest gives reach the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.manifest import RuntimeOptions
from modelyard.runtimes.onnx import SPINNING, OnnxRuntime


@pytest.mark.parametrize(("options", "spinning"), [(None, "0"), (RuntimeOptions(intra_op_spinning=True), "1")])
def test_pool_threads_sleep_between_runs_unless_asked_to_spin(
    mlp_path: Path, options: RuntimeOptions | None, spinning: str
) -> None:
    runtime = OnnxRuntime(mlp_path, options)
    assert runtime.session.get_session_options().get_session_config_entry(SPINNING) == spinning


def test_thread_counts_reach_the_session(mlp_path: Path) -> None:
    session = OnnxRuntime(mlp_path, RuntimeOptions(intra_op_threads=1, inter_op_threads=1)).session
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().inter_op_num_threads == 1
