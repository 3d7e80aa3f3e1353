"""Bring models in from the tools users already have: MLflow model folders and Triton model repositories.

Each importer turns a peer's layout into a modelyard package folder (and lineage facts to record); registering it
is the registry's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from modelyard.datatypes import from_numpy
from modelyard.errors import InvalidPackage
from modelyard.manifest import parse_manifest, read_manifest, write_manifest
from modelyard.packaging.builder import build_package
from modelyard.packaging.pbtxt import Message, first, parse_pbtxt
from modelyard.runtimes import example_from_signature
from modelyard.signature import Signature, TensorSpec, check_fits


@dataclass(frozen=True, slots=True)
class Imported:
    name: str
    package: Path
    lineage: dict[str, str] = field(default_factory=dict)


# -- MLflow -----------------------------------------------------------------------------------------------------------

_MLFLOW_COLUMN_TYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
}


def _mlflow_inputs(spec_json: str | None) -> tuple[TensorSpec, ...] | None:
    """MLflow keeps signatures as JSON strings: tensor specs map one to one; a column signature is one 2-D input."""
    if not spec_json:
        return None
    items: list[dict[str, Any]] = json.loads(spec_json)
    if items and all(i.get("type") == "tensor" for i in items):
        return tuple(
            TensorSpec(
                name=i.get("name") or ("x" if len(items) == 1 else f"input_{n}"),
                datatype=from_numpy(np.dtype(i["tensor-spec"]["dtype"])),  # type: ignore[arg-type]
                shape=tuple(i["tensor-spec"]["shape"]),
            )
            for n, i in enumerate(items)
        )
    dtypes = {_MLFLOW_COLUMN_TYPES.get(i.get("type", ""), "float64") for i in items}
    dtype = np.dtype(dtypes.pop() if len(dtypes) == 1 else "float64")
    return (TensorSpec(name="x", datatype=from_numpy(dtype), shape=(-1, len(items))),)  # type: ignore[arg-type]


def _mlflow_example(folder: Path, meta: dict[str, Any], inputs: tuple[TensorSpec, ...] | None) -> Any:
    info = meta.get("saved_input_example_info") or {}
    path = folder / info.get("artifact_path", "input_example.json")
    if path.is_file():
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            data = data.get("inputs", data.get("instances", data.get("data", data)))
        if isinstance(data, dict):
            return {k: np.asarray(v) for k, v in data.items()}
        array = np.asarray(data)
        if inputs and inputs[0].datatype.startswith("FP"):
            array = array.astype(np.dtype("float32" if inputs[0].datatype == "FP32" else "float64"))
        return array
    if inputs:
        return example_from_signature(Signature(inputs=inputs, outputs=()))
    return None


def from_mlflow(folder: Path, out: Path, name: str | None = None) -> Imported:
    """Package an MLflow model folder (`MLmodel` with an `onnx` or `sklearn` flavor), keeping its input signature."""
    try:
        meta = yaml.safe_load((folder / "MLmodel").read_text())
    except FileNotFoundError:
        raise InvalidPackage(f"{folder}: not an MLflow model folder (no MLmodel file)") from None
    flavors = meta.get("flavors") or {}
    signature = meta.get("signature") or {}
    inputs = _mlflow_inputs(signature.get("inputs"))
    name = name or folder.name
    if "onnx" in flavors:
        artifact = folder / flavors["onnx"].get("data", "model.onnx")
        build_package(artifact, out, name=name)
    elif "sklearn" in flavors:
        artifact = folder / flavors["sklearn"].get("pickled_model", "model.pkl")
        example = _mlflow_example(folder, meta, inputs)
        input_name = inputs[0].name if inputs else "x"
        build_package(artifact, out, name=name, format="sklearn", example=example, input_name=input_name)
    else:
        raise InvalidPackage(f"{folder}/MLmodel: no onnx or sklearn flavor (found: {', '.join(flavors) or 'none'})")
    if inputs:
        _keep_declared_inputs(out, inputs)
    lineage = {"imported_from": "mlflow", "path": str(folder)}
    for key in ("run_id", "model_uuid"):
        if meta.get(key):
            lineage[key] = str(meta[key])
    return Imported(name, out, lineage)


def _keep_declared_inputs(package: Path, inputs: tuple[TensorSpec, ...]) -> None:
    manifest = read_manifest(package)
    declared = Signature(inputs=inputs, outputs=manifest.signature.outputs)
    check_fits(declared, manifest.signature)
    fields = {**manifest.to_dict(), "signature": declared.model_dump(mode="json")}
    write_manifest(package, parse_manifest(fields, f"{package}/MLmodel signature"))


# -- Triton -----------------------------------------------------------------------------------------------------------


def _triton_options(config: Message) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "max_batch_size" in config:
        options["max_batch_size"] = int(first(config, "max_batch_size"))
    batching = first(config, "dynamic_batching")
    if batching is not None:
        sizes = [int(s) for s in batching.get("preferred_batch_size", [])]
        policy = first(batching, "default_queue_policy", {})
        options["batching"] = {
            "max_queue_delay_us": int(first(batching, "max_queue_delay_microseconds", 0)),
            "preferred_batch_sizes": sizes,
            **({"max_queue_size": int(first(policy, "max_queue_size"))} if first(policy, "max_queue_size") else {}),
        }
    else:
        options["batching"] = {"max_queue_delay_us": 0}
    groups = config.get("instance_group", [])
    if groups:
        count = sum(int(first(g, "count", 1)) for g in groups)
        gpu = any(first(g, "kind", "KIND_CPU") == "KIND_GPU" for g in groups)
        options["instances"] = {"count": count, "kind": "thread", "device": "cuda" if gpu else "cpu"}
    return options


def _triton_config(model_dir: Path) -> Message:
    path = model_dir / "config.pbtxt"
    if not path.is_file():
        return {}
    config = parse_pbtxt(path.read_text())
    platform = first(config, "platform") or first(config, "backend") or "onnxruntime_onnx"
    if platform not in ("onnxruntime_onnx", "onnxruntime"):
        raise InvalidPackage(f"{path}: platform {platform!r} is not supported (only ONNX models can be imported)")
    return config


def triton_versions(repo: Path) -> Iterator[tuple[str, int, Path, Message]]:
    """(model name, Triton version, model file, config) for each `<repo>/<model>/<version>/model.onnx`."""
    if not repo.is_dir():
        raise InvalidPackage(f"{repo}: not a folder")
    for model_dir in sorted(p for p in repo.iterdir() if p.is_dir()):
        config = _triton_config(model_dir)
        filename = first(config, "default_model_filename", "model.onnx")
        for version_dir in sorted((p for p in model_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
            if (version_dir / filename).is_file():
                yield (
                    first(config, "name", model_dir.name),
                    int(version_dir.name),
                    version_dir / filename,
                    config,
                )


def from_triton_version(
    name: str, triton_version: int, model_file: Path, config: Message, out: Path, repo: Path
) -> Imported:
    build_package(model_file, out, name=name, options=_triton_options(config))
    lineage = {"imported_from": "triton", "path": str(repo), "triton_version": str(triton_version)}
    return Imported(name, out, lineage)
