"""Failures midway leave no version row and no stray files; the next registration works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem

from modelyard.errors import StorageError
from modelyard.registry import ArtifactStore, Registry
from modelyard.registry.sql import SqlAlchemyStore
from modelyard.settings import Settings


class FailingFileSystem(LocalFileSystem):  # type: ignore[misc]
    """A local filesystem whose copy breaks after `fail_after` files, like a network store dropping mid-upload."""

    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.fail_after = fail_after
        self.copied = 0

    def put_file(self, lpath: str, rpath: str, **kwargs: Any) -> None:
        if self.copied >= self.fail_after:
            raise OSError("connection reset by peer (injected)")
        self.copied += 1
        super().put_file(lpath, rpath, **kwargs)


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def test_artifact_copy_failing_midway_leaves_nothing(settings: Settings, mlp_path: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = SqlAlchemyStore(settings.database_url)
    broken = Registry(store, ArtifactStore(str(root), fs=FailingFileSystem(fail_after=1)))
    with pytest.raises(StorageError, match="injected"):
        broken.register(mlp_path, name="fraud")
    assert files_under(root) == []
    assert store.search_model_versions().items == []

    working = Registry(store, ArtifactStore(str(root)))
    version = working.register(mlp_path, name="fraud")
    assert version.version == 1
    assert len(files_under(root)) == 2  # model.onnx + modelyard.yaml, in packages/<sha>/
    store.close()


def test_database_failure_after_copy_removes_the_new_artifact(
    registry: Registry, mlp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(*_: object) -> None:
        raise StorageError("database went away (injected)")

    monkeypatch.setattr(registry.store, "create_model_version", broken)
    with pytest.raises(StorageError, match="injected"):
        registry.register(mlp_path, name="fraud")
    assert files_under(Path(registry.artifacts.root) / "packages") == []
    monkeypatch.undo()
    assert registry.register(mlp_path, name="fraud").version == 1


def test_artifact_shared_by_another_version_survives_a_failed_registration(
    registry: Registry, mlp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = registry.register(mlp_path, name="fraud")

    def broken(*_: object) -> None:
        raise StorageError("injected")

    monkeypatch.setattr(registry.store, "create_model_version", broken)
    with pytest.raises(StorageError):
        registry.register(mlp_path, name="fraud")
    monkeypatch.undo()
    assert registry.artifacts.local_path(first.sha256) is not None
