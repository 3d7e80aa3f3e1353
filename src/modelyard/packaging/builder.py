"""Turn a model file into a model package, and check that a package's manifest tells the truth about its artifact.

The artifact is always loaded by its real runtime before a package is accepted: a corrupt file, or a manifest that
names an input the model does not have, is refused here rather than at serving time.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidArgument, InvalidPackage, ModelyardError
from modelyard.manifest import (
    EXAMPLE_FILE,
    MANIFEST_FILE,
    Format,
    Manifest,
    parse_manifest,
    read_manifest,
    write_manifest,
)
from modelyard.packaging.input_examples import Example, ExampleSource, read_example, write_example
from modelyard.runtimes import Runtime, example_from_signature, load_runtime, observed_signature
from modelyard.signature import Signature, check_fits
from modelyard.uri import check_name

_SUFFIXES: dict[str, Format] = {
    ".onnx": "onnx",
    ".pkl": "sklearn",
    ".pickle": "sklearn",
    ".joblib": "sklearn",
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".torchscript": "torchscript",
}
MODEL_FILES = frozenset(_SUFFIXES)  # the suffixes of the model files a package can be built from


def detect_format(source: Path, python_class: str | None = None) -> Format:
    if python_class:
        return "python"
    fmt = _SUFFIXES.get(source.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_SUFFIXES))
        raise InvalidArgument(
            f"format: cannot tell the format of {source.name} from its suffix ({known}); "
            "pass --format, or --class module:Class for a python model"
        )
    return fmt


def is_package(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST_FILE).is_file()


def _copy_artifact(source: Path, out: Path, fmt: Format) -> str:
    if not source.exists():
        raise InvalidArgument(f"source: {source} does not exist")
    if fmt == "python":
        code = out / "code"
        if source.is_dir():
            shutil.copytree(source, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            code.mkdir()
            shutil.copy2(source, code / source.name)
        return "code"
    if not source.is_file():
        raise InvalidArgument(f"source: {source} is not a file")
    name = f"model{source.suffix.lower()}"
    shutil.copy2(source, out / name)
    return name


def _python_class(source: Path, python_class: str | None) -> str | None:
    if python_class and ":" not in python_class and source.suffix == ".py":
        return f"{source.stem}:{python_class}"
    return python_class


def _signature(runtime: Runtime, fmt: str, example: Example | None) -> Signature:
    native = runtime.native_signature()
    if native is not None:
        if example is not None:
            _run(runtime, example)
        return native
    if example is None:
        raise InvalidPackage(
            f"example: a {fmt} model does not declare its signature; pass an input example (--example x.npy "
            "or a .npz of named inputs) so it can be read from a real call"
        )
    return observed_signature(runtime, example)


def _run(runtime: Runtime, example: Example) -> dict[str, Any]:
    try:
        return runtime.predict(example)
    except ModelyardError as exc:
        raise InvalidPackage(f"example: the model failed on the input example: {exc}") from None
    except Exception as exc:
        raise InvalidPackage(f"example: the model failed on the input example: {type(exc).__name__}: {exc}") from None


def _batchable(signature: Signature) -> bool:
    return all(s.shape and s.shape[0] == -1 for s in (*signature.inputs, *signature.outputs))


def build_package(
    source: Path,
    out: Path,
    *,
    name: str | None = None,
    format: Format | None = None,
    example: ExampleSource | None = None,
    python_class: str | None = None,
    input_name: str = "x",
    options: Mapping[str, Any] | None = None,
) -> Manifest:
    """Package `source` into the empty folder `out`. `options` are manifest fields to set (max_batch_size,
    batching, instances, runtime). On any failure `out` is removed, so no half-made package is left."""
    source = Path(source)
    if out.exists() and any(out.iterdir()):
        raise InvalidArgument(f"out: {out} exists and is not empty")
    fmt = format or detect_format(source, python_class)
    python_class = _python_class(source, python_class)
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _build(source, out, check_name(name or source.stem), fmt, example, python_class, input_name, options)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def _build(
    source: Path,
    out: Path,
    name: str,
    fmt: Format,
    example: ExampleSource | None,
    python_class: str | None,
    input_name: str,
    options: Mapping[str, Any] | None,
) -> Manifest:
    artifact = _copy_artifact(source, out, fmt)
    examples = read_example(example, input_name) if example is not None else None
    if fmt == "sklearn" and examples is not None and len(examples) == 1:
        input_name = next(iter(examples))
    input_names = list(examples) if examples else [input_name]
    runtime = _load_draft(out, fmt, artifact, python_class, input_names)
    try:
        signature = _signature(runtime, fmt, examples)
    finally:
        runtime.unload()
    if examples is not None:
        write_example(out / EXAMPLE_FILE, examples)
    fields: dict[str, Any] = {
        "name": name,
        "format": fmt,
        "artifact": artifact,
        "signature": signature.model_dump(mode="json"),
        "max_batch_size": 64 if fmt != "python" and _batchable(signature) else 0,
        "trusted_only": fmt in ("sklearn", "python"),
        "python_class": python_class,
        "example": EXAMPLE_FILE if examples is not None else None,
        **(options or {}),
    }
    manifest = parse_manifest(fields, "options")
    write_manifest(out, manifest)
    return manifest


def _load_draft(out: Path, fmt: Format, artifact: str, python_class: str | None, input_names: list[str]) -> Runtime:
    """Load the runtime before the signature (and so the manifest) is known; inputs are named by the example."""
    if fmt == "onnx":
        from modelyard.runtimes.onnx import OnnxRuntime

        return OnnxRuntime(out / artifact)
    if fmt == "sklearn":
        from modelyard.runtimes.sklearn import SklearnRuntime

        return SklearnRuntime(out / artifact, input_names[0])
    if fmt == "torchscript":
        from modelyard.runtimes.torch import TorchScriptRuntime

        return TorchScriptRuntime(out / artifact, input_names)
    from modelyard.runtimes.python import PythonRuntime

    if not python_class:
        raise InvalidArgument("python_class: a python model needs --class module:Class")
    return PythonRuntime(out / artifact, python_class)


def package_example(package_dir: Path, manifest: Manifest) -> Example:
    if manifest.example:
        return read_example(package_dir / manifest.example)
    return example_from_signature(manifest.signature)


def validate_package(package_dir: Path) -> Manifest:
    """Load the package's artifact with its runtime and check the manifest against what the model really is."""
    manifest = read_manifest(package_dir)
    artifact = package_dir / manifest.artifact
    if not artifact.exists():
        raise InvalidPackage(f"artifact: {manifest.artifact} is not in the package {package_dir}")
    runtime = load_runtime(package_dir, manifest)
    try:
        native = runtime.native_signature()
        if native is not None:  # a typed graph: compare before running, so the error names the field
            check_fits(manifest.signature, native)
        example = package_example(package_dir, manifest)
        outputs = _run(runtime, example)
        if native is None:
            check_fits(manifest.signature, Signature.of_arrays(example, outputs))
    finally:
        runtime.unload()
    return manifest
