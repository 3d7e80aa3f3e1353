import os
from pathlib import Path

import pytest

from modelyard.errors import NotFound, StorageError
from modelyard.packaging import digest
from modelyard.packaging.digest import package_digest
from modelyard.registry import ArtifactStore, Registry


def make_package(folder: Path, content: str = "weights") -> Path:
    (folder / "sub").mkdir(parents=True)
    (folder / "model.bin").write_text(content)
    (folder / "sub" / "vocab.txt").write_text("a b c")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_text("ignored")
    return folder


def test_digest_depends_on_content_and_paths_only(tmp_path: Path) -> None:
    a = package_digest(make_package(tmp_path / "a"))
    assert a == package_digest(make_package(tmp_path / "b"))
    assert a != package_digest(make_package(tmp_path / "c", content="other"))
    (tmp_path / "b" / "model.bin").rename(tmp_path / "b" / "renamed.bin")
    assert a != package_digest(tmp_path / "b")


def test_put_is_content_addressed_and_idempotent(artifacts: ArtifactStore, tmp_path: Path) -> None:
    first = artifacts.put_package(make_package(tmp_path / "a"))
    again = artifacts.put_package(make_package(tmp_path / "b"))
    assert first.created
    assert not again.created
    assert first.uri == again.uri
    assert first.uri.endswith(first.sha256)
    assert not any((Path(artifacts.root) / "tmp").iterdir())


@pytest.mark.parametrize("url", ["local", "memory://race"])
def test_writers_of_the_same_content_racing_keep_one_intact_copy(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both writers saw no package and copied it; the second to arrive used to move its copy inside the first
    one's folder (`<sha>-<uuid>/`), changing the digest of every version that shares the bytes."""
    store = ArtifactStore(str(tmp_path / "artifacts") if url == "local" else url)
    first = store.put_package(make_package(tmp_path / "a"))
    exists = store.fs.exists
    monkeypatch.setattr(store.fs, "exists", lambda key, **kw: False if key == store._key(first.sha256) else exists(key))
    second = store.put_package(make_package(tmp_path / "b"))
    monkeypatch.undo()
    assert second.sha256 == first.sha256
    fetched = store.fetch(first.uri, first.sha256, tmp_path / "copy")  # checks the digest
    assert sorted(p.relative_to(fetched).as_posix() for p in fetched.rglob("*") if p.is_file()) == [
        "model.bin", "sub/vocab.txt",
    ]  # fmt: skip
    assert store.fs.find(f"{store.root}/tmp") == []
    if url == "local":
        assert not second.created  # the first copy stayed; the second was discarded


def test_fetch_verifies_the_digest(artifacts: ArtifactStore, tmp_path: Path) -> None:
    stored = artifacts.put_package(make_package(tmp_path / "a"))
    fetched = artifacts.fetch(stored.uri, stored.sha256, tmp_path / "copy")
    assert (fetched / "sub" / "vocab.txt").read_text() == "a b c"
    local = artifacts.local_path(stored.sha256)
    assert local is not None
    (local / "model.bin").write_text("tampered")
    with pytest.raises(StorageError, match="damaged"):
        artifacts.fetch(stored.uri, stored.sha256, tmp_path / "copy2")
    assert not (tmp_path / "copy2").exists()
    artifacts.delete_package(stored.sha256)
    with pytest.raises(NotFound):
        artifacts.fetch(stored.uri, stored.sha256, tmp_path / "copy3")


def test_memory_filesystem_url_works(tmp_path: Path) -> None:
    store = ArtifactStore("memory://modelyard-test")
    stored = store.put_package(make_package(tmp_path / "a"))
    assert stored.uri.startswith("memory://")
    assert store.local_path(stored.sha256) is None
    assert (store.fetch(stored.uri, stored.sha256, tmp_path / "copy") / "model.bin").read_text() == "weights"


def test_a_swapped_file_in_the_store_is_refused_before_it_is_served(
    registry: Registry, mlp_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local store is served in place; a swapped model.onnx there was served without a word."""
    version = registry.register(mlp_path, name="m")
    cache = tmp_path / "cache"
    hashed: list[Path] = []
    real = digest.file_sha256
    monkeypatch.setattr(digest, "file_sha256", lambda p: hashed.append(p) or real(p))
    _, folder = registry.package_path("m/1", cache)
    assert hashed  # verified once...
    hashed.clear()
    registry.package_path("m/1", cache)
    assert hashed == []  # ...and not hashed again while its files are the same (a restart stays fast)
    model = folder / "model.onnx"
    stat = model.stat()
    model.write_bytes(bytes(reversed(model.read_bytes())))  # the same size
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same time: only its ctime tells
    with pytest.raises(StorageError, match=f"the stored package of {version.uri} is damaged"):
        registry.package_path("m/1", cache)


def test_a_fetched_copy_is_hashed_once_and_a_tampered_one_refused(
    mlp_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.registry.sql import SqlAlchemyStore

    store = ArtifactStore(f"memory://fetched-{tmp_path.name}")
    with Registry(SqlAlchemyStore(f"sqlite:///{tmp_path / 'r.db'}"), store) as registry:
        version = registry.register(mlp_path, name="m")
        hashed: list[Path] = []
        real = digest.file_sha256
        monkeypatch.setattr(digest, "file_sha256", lambda p: hashed.append(p) or real(p))
        _, copy = registry.package_path("m/1", tmp_path / "cache")
        fetch_hashes = len(hashed)
        assert fetch_hashes  # the fetch checks what it copies...
        registry.package_path("m/1", tmp_path / "cache")
        assert len(hashed) == fetch_hashes  # ...and neither it nor the next start hash it again
        (copy / "model.onnx").write_bytes(b"swapped")
        with pytest.raises(StorageError, match=f"the cached package of {version.uri} is damaged"):
            registry.package_path("m/1", tmp_path / "cache")
