from pathlib import Path

import numpy as np
import pytest

from modelyard.errors import InvalidArgument, InvalidPackage, NotFound
from modelyard.manifest import read_manifest
from modelyard.packaging import build_package
from modelyard.registry import Registry


def test_register_file_resolve_every_reference_form(registry: Registry, mlp_path: Path) -> None:
    v1 = registry.register(mlp_path, name="fraud", metrics={"auc": 0.9}, lineage={"git_commit": "abc"})
    v2 = registry.register(mlp_path, name="fraud", description="retrained")
    registry.set_alias("fraud", "production", 1, reason="launch")
    assert registry.get("models:/fraud/1") == registry.get("fraud/1")
    assert registry.get("fraud/1").sha256 == v1.sha256
    assert registry.get("models:/fraud@production").version == 1
    assert registry.get("models:/fraud").version == v2.version == 2
    assert registry.get("fraud@latest").version == 2
    assert v1.sha256 == v2.sha256  # same bytes stored once
    assert v1.source == {"git_commit": "abc"}
    assert v1.author == "tester"


def test_register_package_with_a_new_name_and_options(registry: Registry, mlp_path: Path, tmp_path: Path) -> None:
    build_package(mlp_path, tmp_path / "pkg", name="original")
    version = registry.register(tmp_path / "pkg", name="renamed", options={"max_batch_size": 8})
    assert version.name == "renamed"
    assert version.manifest["max_batch_size"] == 8
    assert read_manifest(tmp_path / "pkg").name == "original"  # the caller's folder is untouched


def test_register_sklearn_and_download(
    registry: Registry, sklearn_model: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, example = sklearn_model
    version = registry.register(path, name="churn", example=example, params={"C": "1.0"})
    assert version.format == "sklearn"
    folder = registry.download("churn@latest", tmp_path / "dl")
    assert read_manifest(folder).trusted_only is True
    with pytest.raises(InvalidArgument, match="already exists"):
        registry.download("churn/1", tmp_path / "dl")


def test_invalid_package_registers_nothing(registry: Registry, tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(InvalidPackage):
        registry.register(bad, name="fraud")
    with pytest.raises(NotFound):
        registry.model("fraud")
    assert not (Path(registry.artifacts.root) / "packages").exists()


def test_delete_version_removes_unshared_artifacts(registry: Registry, mlp_path: Path, tmp_path: Path) -> None:
    from modelyard import examples

    other = examples.mlp_onnx(tmp_path / "other.onnx", sizes=(4, 8, 2), seed=5)
    v1 = registry.register(mlp_path, name="fraud")
    registry.register(mlp_path, name="fraud")
    v3 = registry.register(other, name="fraud")
    registry.delete_version("fraud/1")
    assert registry.artifacts.local_path(v1.sha256) is not None  # still used by version 2
    registry.delete_version("fraud/3")
    assert registry.artifacts.local_path(v3.sha256) is None
    with pytest.raises(InvalidArgument, match="explicit version"):
        registry.delete_version("fraud@production")


def test_import_triton_registers_versions_in_order(registry: Registry, mlp_path: Path, tmp_path: Path) -> None:
    import shutil

    for version in ("2", "10"):
        (tmp_path / "repo" / "fraud" / version).mkdir(parents=True)
        shutil.copy(mlp_path, tmp_path / "repo" / "fraud" / version / "model.onnx")
    imported = registry.import_triton(tmp_path / "repo", tags={"origin": "triton"})
    assert [(v.version, v.source["triton_version"]) for v in imported] == [(1, "2"), (2, "10")]
    assert imported[0].tags == {"origin": "triton"}
    with pytest.raises(NotFound):
        registry.import_triton(tmp_path / "repo", models=["absent"])
