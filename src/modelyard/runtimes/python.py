"""Custom Python models: a class with `load()` and `predict(inputs) -> outputs`, shipped with its source files.

Loading imports the user's code, so python packages are `trusted_only`. The package's `code/` folder is on
`sys.path` while the class is imported, so it can import its sibling modules, and only then:

- each version's code is its own: the modules imported from its folder leave `sys.modules` once the class is
  loaded (the class keeps them alive), so version 2's `model.py` is not version 1's, whatever their names;
  version 1's code had answered for version 2 after an alias move.
- only source is imported, never bytecode: a package's digest does not cover `__pycache__`, and a planted `.pyc`
  was run. Imports made later, inside `predict`, are not isolated: import what the model needs when it loads.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.errors import InvalidPackage, ModelExecutionError
from modelyard.manifest import Manifest
from modelyard.runtimes.base import Tensors
from modelyard.signature import Signature

_IMPORTING = threading.Lock()  # sys.path and sys.modules are the process's: one package's import at a time


class SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles the source it is given; never reads or writes `__pycache__`."""

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        return compile(self.get_data(path), path, "exec", dont_inherit=True)


def import_isolated(code_dir: Path, module_name: str) -> Any:
    """Import `module_name` from `code_dir` alone, from source, and leave no module of that folder behind."""
    entry = str(code_dir)
    with _IMPORTING:
        # A copy taken in one step: other threads import while this one reads (another version loading beside)
        found = list(sys.modules.items())
        shadowed = {n: m for n, m in found if n == module_name or n.startswith(f"{module_name}.")}
        for name in shadowed:
            del sys.modules[name]  # another package's module of the same name must not answer this import
        sys.path.insert(0, entry)
        sys.path_importer_cache[entry] = importlib.machinery.FileFinder(entry, (SourceOnlyLoader, [".py"]))
        before = set(sys.modules)
        try:
            return importlib.import_module(module_name)
        finally:
            sys.path.remove(entry)
            sys.path_importer_cache.pop(entry, None)
            for name in set(sys.modules) - before:
                module = sys.modules.get(name)
                if str(getattr(module, "__file__", "") or "").startswith(entry + os.sep):
                    sys.modules.pop(name, None)
            sys.modules.update(shadowed)


def load_class(code_dir: Path, spec: str) -> type[Any]:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise InvalidPackage(f"python_class: {spec!r} is not of the form module:Class")
    try:
        module = import_isolated(code_dir, module_name)
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
