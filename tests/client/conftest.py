"""A real server for the client's tests: the mixed-datatype model and the W1 MLP, HTTP and gRPC on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import examples
from modelyard.packaging import build_package
from modelyard.testing import Server, start_server, stop_server


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("client-models")
    build_package(examples.mixed_onnx(root / "mixed.onnx"), root / "packages" / "mixed")
    build_package(examples.mlp_onnx(root / "tabular.onnx"), root / "packages" / "tabular")
    return root


@pytest.fixture(scope="session")
def server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("client-home")
    running = start_server([str(models / "packages")], home)
    yield running
    stop_server(running)
