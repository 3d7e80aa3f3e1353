"""What a local path serves: a folder holding one model file (what KServe's storage initializer leaves in
/mnt/models) is served as that file, under the name given."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import examples
from modelyard.errors import InvalidArgument
from modelyard.server.repository.sources import SourceResolver


def test_a_folder_of_one_model_file_serves_it(tmp_path: Path) -> None:
    models = tmp_path / "mnt-models"
    models.mkdir()
    examples.mlp_onnx(models / "model.onnx", sizes=(4, 8, 2))
    (models / "README.txt").write_text("what the storage left beside it")
    specs, _ = SourceResolver(tmp_path / "cache").resolve([str(models)], name="fraud")
    assert [(s.name, s.version) for s in specs] == [("fraud", "1")]
    assert (Path(specs[0].package_dir) / "modelyard.yaml").is_file()
    examples.mlp_onnx(models / "other.onnx", sizes=(4, 8, 2))
    with pytest.raises(InvalidArgument, match="not a model file, a package"):
        SourceResolver(tmp_path / "cache").resolve([str(models)], name="fraud")
