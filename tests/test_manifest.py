from pathlib import Path
from typing import Any

import pytest

from modelyard.errors import InvalidPackage
from modelyard.manifest import parse_manifest, read_manifest, write_manifest

BASE: dict[str, Any] = {
    "name": "m",
    "format": "onnx",
    "artifact": "model.onnx",
    "signature": {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}],
    },
    "max_batch_size": 8,
}


def test_round_trip(tmp_path: Path) -> None:
    manifest = parse_manifest(BASE)
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "sklearn"}, "trusted_only"),
        ({"format": "python", "trusted_only": True}, "python_class"),
        ({"format": "tensorflow"}, "format"),
        ({"max_batch_size": -1}, "max_batch_size"),
        ({"batching": {"preferred_batch_sizes": [16]}}, "preferred_batch_sizes"),
        ({"instances": {"count": 0}}, "instances.count"),
        ({"colour": "blue"}, "colour"),
        (
            {"signature": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [4]}], "outputs": []}},
            r"signature\.inputs\[0\]\.shape",
        ),
        (
            {"signature": {"inputs": [{"name": "x", "datatype": "FLOAT", "shape": [-1]}], "outputs": []}},
            "signature.inputs.0.datatype",
        ),
    ],
)
def test_invalid_manifests_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPackage, match=message):
        parse_manifest({**BASE, **change})


def test_unreadable_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "modelyard.yaml").write_text("name: [unclosed")
    with pytest.raises(InvalidPackage, match="not valid YAML"):
        read_manifest(tmp_path)
    with pytest.raises(InvalidPackage, match="not a model package"):
        read_manifest(tmp_path / "nowhere")
