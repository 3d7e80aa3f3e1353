"""TorchScript models: packaged from a real scripted module and served with batching. Runs where torch is
installed (`pip install 'modelyard[torch]'`); CI has no torch, whose default wheel is a multi-GB CUDA build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelyard.manifest import read_manifest
from modelyard.packaging import build_package, validate_package
from modelyard.runtimes import load_runtime
from modelyard.testing import start_server, stop_server

torch = pytest.importorskip("torch")


class TwoHeads(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.linear(x) * scale
        return logits, logits.argmax(dim=1)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("torch") / "two_heads.pt"
    torch.jit.script(TwoHeads()).save(str(path))
    return path


def example() -> dict[str, np.ndarray]:
    return {"x": np.ones((2, 4), np.float32), "scale": np.full((2, 1), 2.0, np.float32)}


def test_torchscript_package_signature_and_prediction(scripted: Path, tmp_path: Path) -> None:
    manifest = build_package(scripted, tmp_path / "pkg", example=example())
    assert manifest.format == "torchscript"
    assert [(s.name, s.datatype, s.shape) for s in manifest.signature.inputs] == [
        ("x", "FP32", (-1, 4)), ("scale", "FP32", (-1, 1)),
    ]  # fmt: skip
    assert [(s.name, s.datatype, s.shape) for s in manifest.signature.outputs] == [
        ("output_0", "FP32", (-1, 3)), ("output_1", "INT64", (-1,)),
    ]  # fmt: skip
    assert validate_package(tmp_path / "pkg") == manifest
    module = torch.jit.load(str(scripted))
    expected = module(torch.ones(2, 4), torch.full((2, 1), 2.0))[0].detach().numpy()
    got = load_runtime(tmp_path / "pkg", read_manifest(tmp_path / "pkg")).predict(example())
    np.testing.assert_allclose(got["output_0"], expected, rtol=1e-6)


@pytest.mark.e2e
def test_torchscript_served_over_http(scripted: Path, tmp_path: Path) -> None:
    import httpx

    build_package(scripted, tmp_path / "pkg", name="heads", example=example())
    server = start_server([str(tmp_path / "pkg")], tmp_path / "home")
    try:
        inputs = [
            {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
            {"name": "scale", "datatype": "FP32", "shape": [1, 1], "data": [1]},
        ]
        out = httpx.post(f"{server.url}/v2/models/heads/infer", json={"inputs": inputs}).json()["outputs"]
        assert [o["name"] for o in out] == ["output_0", "output_1"]
        assert out[1]["datatype"] == "INT64"
        assert out[1]["shape"] == [1]
    finally:
        stop_server(server)
