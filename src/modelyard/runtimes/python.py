"""Custom Python models: a class with `load()` and `predict(inputs) -> outputs`, shipped with its source files.

Loading imports the user's code, so python packages are `trusted_only`. The package's `code/` folder goes on
`sys.path` so the class can import its sibling modules.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.errors import InvalidPackage, ModelExecutionError
from modelyard.manifest import Manifest
from modelyard.runtimes.base import Tensors
from modelyard.signature import Signature


def load_class(code_dir: Path, spec: str) -> type[Any]:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise InvalidPackage(f"python_class: {spec!r} is not of the form module:Class")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise InvalidPackage(f"python_class: cannot import {module_name!r} from {code_dir}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise InvalidPackage(f"python_class: module {module_name!r} has no class {class_name!r}")
    for method in ("predict",):
        if not callable(getattr(cls, method, None)):
            raise InvalidPackage(f"python_class: {class_name} has no {method}() method")
    return cls


class PythonRuntime:
    def __init__(self, code_dir: Path, spec: str) -> None:
        cls = load_class(code_dir, spec)
        try:
            self.model = cls()
            if callable(getattr(self.model, "load", None)):
                self.model.load()
        except Exception as exc:
            raise InvalidPackage(f"python_class: {spec} failed to load: {exc}") from None
        self.thread_safe = bool(getattr(self.model, "thread_safe", False))

    @classmethod
    def load(cls, package_dir: Path, manifest: Manifest) -> PythonRuntime:
        assert manifest.python_class is not None  # enforced by the manifest's validator
        return cls(package_dir / manifest.artifact, manifest.python_class)

    def native_signature(self) -> Signature | None:
        return None

    def predict(self, inputs: Tensors) -> dict[str, np.ndarray]:
        try:
            result = self.model.predict(dict(inputs))
        except Exception as exc:
            raise ModelExecutionError(f"model raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(result, Mapping):
            raise ModelExecutionError(f"predict() must return a mapping of output name to array, not {type(result)}")
        return {str(k): np.asarray(v) for k, v in result.items()}

    def unload(self) -> None:
        if callable(getattr(self.model, "unload", None)):
            self.model.unload()
        self.model = None
