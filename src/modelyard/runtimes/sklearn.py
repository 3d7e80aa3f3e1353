"""scikit-learn estimators and pipelines, loaded from pickle/joblib (trusted artifacts only: loading runs code)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.errors import InvalidPackage, MissingDependency
from modelyard.manifest import Manifest
from modelyard.runtimes.base import Tensors, single_input
from modelyard.signature import Signature

METHODS = ("predict", "predict_proba")


def load_estimator(path: Path) -> Any:
    try:
        import joblib
    except ImportError:
        raise MissingDependency.for_extra("joblib", "sklearn") from None
    try:
        estimator = joblib.load(path)
    except ModuleNotFoundError as exc:
        raise MissingDependency(
            f"{path.name}: unpickling needs the module {exc.name!r}, which is not installed"
        ) from None
    except Exception as exc:
        raise InvalidPackage(f"{path.name}: cannot unpickle a scikit-learn model: {exc}") from None
    if not callable(getattr(estimator, "predict", None)):
        raise InvalidPackage(f"{path.name}: the unpickled object ({type(estimator).__name__}) has no predict()")
    return estimator


class SklearnRuntime:
    thread_safe = True

    def __init__(self, path: Path, input_name: str = "x", methods: Sequence[str] = METHODS) -> None:
        self.estimator = load_estimator(path)
        self.input_name = input_name
        self.methods = [m for m in methods if m in METHODS and callable(getattr(self.estimator, m, None))]

    @classmethod
    def load(cls, package_dir: Path, manifest: Manifest) -> SklearnRuntime:
        methods = [o.name for o in manifest.signature.outputs]
        return cls(package_dir / manifest.artifact, manifest.signature.inputs[0].name, methods)

    def native_signature(self) -> Signature | None:
        return None

    def predict(self, inputs: Tensors) -> dict[str, np.ndarray]:
        x = single_input(inputs, self.input_name)
        return {m: np.asarray(getattr(self.estimator, m)(x)) for m in self.methods}

    def unload(self) -> None:
        self.estimator = None
