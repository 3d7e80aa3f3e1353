"""A folder of packages built from real models, served by a real `modelyard serve` process on 127.0.0.1
(`server`) or by a worker's app in this process (`in_process`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelyard import examples
from modelyard.packaging import build_package
from modelyard.server.repository.spec import ServeSpec, SourceSpec
from modelyard.testing import InProcess, Server, start_server, stop_server

FLAKY = '''
import numpy as np

class Flaky:
    """Raises on negative input, like a model with an assertion in its preprocessing."""

    def predict(self, inputs):
        x = inputs["x"]
        if (x < 0).any():
            raise ValueError("negative input is not allowed")
        return {"y": x * 2}
'''


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mixed (FP32/INT64/BYTES in and out), tabular (W1 MLP), flaky (python, raises), churn (sklearn)."""
    root = tmp_path_factory.mktemp("served")
    work = tmp_path_factory.mktemp("sources")
    build_package(examples.mixed_onnx(work / "mixed.onnx"), root / "mixed")
    build_package(examples.mlp_onnx(work / "tabular.onnx"), root / "tabular")
    (work / "flaky.py").write_text(FLAKY)
    build_package(work / "flaky.py", root / "flaky", python_class="Flaky", example={"x": np.ones((1, 3), np.float32)})
    pytest.importorskip("sklearn")
    path, example = examples.sklearn_pipeline(work / "churn.joblib")
    build_package(path, root / "churn", example=example)
    return root


@pytest.fixture(scope="session")
def server(model_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("server-home")
    running = start_server([str(model_folder)], home, home / "server.log")
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def in_process(model_folder: Path) -> Iterator[InProcess]:
    """The same models as `server`, `tabular` also as `tabular@production`, in this process."""
    names = sorted(p.name for p in model_folder.iterdir())
    aliases = {"tabular": ("production",)}
    spec = ServeSpec(
        models=[
            SourceSpec(name=n, version="1", package_dir=str(model_folder / n), aliases=aliases.get(n, ()))
            for n in names
        ]
    )
    app = InProcess(spec)
    yield app
    app.close()
