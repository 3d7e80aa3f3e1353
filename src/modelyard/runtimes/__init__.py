"""Model runtimes, one per package format, behind the `Runtime` protocol."""

from __future__ import annotations

from pathlib import Path

from modelyard.manifest import Manifest
from modelyard.runtimes.base import Runtime, RuntimeLoader, example_from_signature, observed_signature


def _loader(fmt: str) -> RuntimeLoader:
    # Imported on demand: a server that serves only ONNX never imports the sklearn or torch modules.
    if fmt == "onnx":
        from modelyard.runtimes.onnx import OnnxRuntime

        return OnnxRuntime.load
    if fmt == "sklearn":
        from modelyard.runtimes.sklearn import SklearnRuntime

        return SklearnRuntime.load
    if fmt == "torchscript":
        from modelyard.runtimes.torch import TorchScriptRuntime

        return TorchScriptRuntime.load
    from modelyard.runtimes.python import PythonRuntime

    return PythonRuntime.load


def load_runtime(package_dir: Path, manifest: Manifest) -> Runtime:
    return _loader(manifest.format)(package_dir, manifest)


__all__ = ["Runtime", "example_from_signature", "load_runtime", "observed_signature"]
