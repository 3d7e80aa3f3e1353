"""Real models and real files for the batch jobs: the W1-shaped MLP (ONNX Runtime), a Python model that rejects
negative rows, and tables written with pyarrow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard import examples
from modelyard.packaging import build_package

PICKY = '''
import numpy as np

class Picky:
    """Refuses a batch with any negative value, as a model whose preprocessing asserts."""

    def predict(self, inputs):
        x = inputs["x"]
        if (x < 0).any():
            raise ValueError("negative input is not allowed")
        return {"y": x.sum(axis=1, keepdims=True) * 2}
'''


def python_package(work: Path, code: str) -> Path:
    """A package of the `Picky` class in `code`, taking rows of four FP32 values."""
    (work / "picky.py").write_text(code)
    build_package(work / "picky.py", work / "package", python_class="Picky", example={"x": np.ones((1, 4), np.float32)})
    return work / "package"


@pytest.fixture(scope="session")
def picky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return python_package(tmp_path_factory.mktemp("picky"), PICKY)


def features(rows: int, width: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, width)).astype(np.float32)


def tensor_table(x: np.ndarray, **extra: object) -> pa.Table:
    """`x` as a fixed-size list column, beside the `extra` columns."""
    column = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), x.shape[1])
    return pa.table({**extra, "x": column})


def write_parquet(path: Path, x: np.ndarray, row_group: int | None = None) -> Path:
    pq.write_table(tensor_table(x, id=np.arange(len(x))), path, row_group_size=row_group)
    return path


@pytest.fixture
def mlp(tmp_path: Path) -> Path:
    return examples.mlp_onnx(tmp_path / "mlp.onnx", sizes=(4, 8, 2))
