import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from modelyard.errors import InvalidPackage
from modelyard.manifest import read_manifest
from modelyard.packaging.importers import from_mlflow, from_triton_version, triton_versions


def test_mlflow_onnx_keeps_signature_and_run_id(mlp_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mlflow-model"
    folder.mkdir()
    shutil.copy(mlp_path, folder / "model.onnx")
    inputs = [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "x"}]
    (folder / "MLmodel").write_text(
        yaml.safe_dump(
            {
                "run_id": "abc123",
                "flavors": {"onnx": {"data": "model.onnx", "onnx_version": "1.16"}, "python_function": {}},
                "signature": {"inputs": json.dumps(inputs), "outputs": None},
            }
        )
    )
    imported = from_mlflow(folder, tmp_path / "pkg", name="fraud")
    manifest = read_manifest(imported.package)
    assert manifest.name == "fraud"
    assert imported.lineage["run_id"] == "abc123"
    assert manifest.signature.inputs[0].shape == (-1, 4)


def test_mlflow_sklearn_with_column_signature(sklearn_model: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, example = sklearn_model
    folder = tmp_path / "churn"
    folder.mkdir()
    shutil.copy(path, folder / "model.pkl")
    columns = [{"type": "double", "name": f"f{i}"} for i in range(example.shape[1])]
    (folder / "MLmodel").write_text(
        yaml.safe_dump(
            {
                "flavors": {"sklearn": {"pickled_model": "model.pkl", "serialization_format": "pickle"}},
                "signature": {"inputs": json.dumps(columns)},
                "saved_input_example_info": {"artifact_path": "input_example.json"},
            }
        )
    )
    (folder / "input_example.json").write_text(
        json.dumps({"columns": [c["name"] for c in columns], "data": example.tolist()})
    )
    manifest = read_manifest(from_mlflow(folder, tmp_path / "pkg").package)
    assert manifest.format == "sklearn"
    assert manifest.signature.inputs[0].shape == (-1, example.shape[1])
    assert manifest.signature.inputs[0].datatype == "FP64"
    assert {o.name for o in manifest.signature.outputs} == {"predict", "predict_proba"}


def test_mlflow_without_supported_flavor_is_refused(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text(yaml.safe_dump({"flavors": {"tensorflow": {}}}))
    with pytest.raises(InvalidPackage, match="no onnx or sklearn flavor"):
        from_mlflow(tmp_path, tmp_path / "pkg")


def test_triton_repository_with_config(mlp_path: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for version in ("1", "3"):
        (repo / "fraud" / version).mkdir(parents=True)
        shutil.copy(mlp_path, repo / "fraud" / version / "model.onnx")
    (repo / "fraud" / "config.pbtxt").write_text(
        'platform: "onnxruntime_onnx"\nmax_batch_size: 16\n'
        "dynamic_batching { preferred_batch_size: [4, 8] max_queue_delay_microseconds: 300 }\n"
        "instance_group [{ count: 3 kind: KIND_CPU }]\n"
    )
    (repo / "plain" / "1").mkdir(parents=True)
    shutil.copy(mlp_path, repo / "plain" / "1" / "model.onnx")
    found = list(triton_versions(repo))
    assert [(name, version) for name, version, _, _ in found] == [("fraud", 1), ("fraud", 3), ("plain", 1)]
    name, version, model_file, config = found[1]
    manifest = read_manifest(from_triton_version(name, version, model_file, config, tmp_path / "p", repo).package)
    assert manifest.max_batch_size == 16
    assert manifest.batching.preferred_batch_sizes == (4, 8)
    assert manifest.batching.max_queue_delay_us == 300
    assert manifest.instances.count == 3


def test_triton_non_onnx_platform_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "config.pbtxt").write_text('platform: "tensorflow_savedmodel"')
    with pytest.raises(InvalidPackage, match="tensorflow_savedmodel"):
        list(triton_versions(tmp_path))
