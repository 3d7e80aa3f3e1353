"""ONNX Runtime sessions: the options a package's manifest gives reach the session."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelyard.manifest import RuntimeOptions
from modelyard.runtimes.onnx import SPINNING, OnnxRuntime, wanted_providers


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


@pytest.mark.parametrize(("options", "planned"), [(None, False), (RuntimeOptions(memory_pattern=True), True)])
def test_memory_is_planned_per_shape_only_when_asked(
    mlp_path: Path, options: RuntimeOptions | None, planned: bool
) -> None:
    assert OnnxRuntime(mlp_path, options).session.get_session_options().enable_mem_pattern is planned


def test_a_provider_that_cannot_run_is_named_in_a_warning(mlp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No such provider here (nor a GPU in CI): the session serves on the CPU, and the log says so."""
    with caplog.at_level(logging.WARNING, logger="modelyard.runtimes"):
        session = OnnxRuntime(mlp_path, RuntimeOptions(providers=("NoSuchExecutionProvider",))).session
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert "NoSuchExecutionProvider not in use" in caplog.text
    assert "runs on CPUExecutionProvider" in caplog.text


def test_a_cuda_device_asks_for_the_cuda_provider_first() -> None:
    assert wanted_providers(RuntimeOptions(), "cuda:0") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert wanted_providers(RuntimeOptions(), "cpu") == ["CPUExecutionProvider"]
    chosen = RuntimeOptions(providers=("TensorrtExecutionProvider", "CUDAExecutionProvider"))
    assert wanted_providers(chosen, "cuda") == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider",
    ]  # fmt: skip
