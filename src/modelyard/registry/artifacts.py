"""Content-addressed package storage on any fsspec filesystem.

A package folder is stored under `packages/<digest>/`, where the digest is the sha256 of its files' relative paths
and contents. Files are first written under `tmp/` and the folder is renamed into place only once complete, so a
copy that fails midway leaves nothing that looks like a package (and the temporary folder is removed).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from modelyard.errors import MissingDependency, NotFound, StorageError
from modelyard.packaging.digest import package_digest, package_files


@dataclass(frozen=True, slots=True)
class StoredPackage:
    uri: str
    sha256: str
    size: int
    created: bool


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        fs, root = fsspec.core.url_to_fs(url)
        return fs, str(root)
    except ImportError as exc:
        raise MissingDependency(f"the artifact store {url!r} needs a package that is not installed: {exc}") from None
    except ValueError as exc:
        raise StorageError(f"artifact store {url!r}: {exc}") from None


class ArtifactStore:
    def __init__(self, url: str, fs: Any = None) -> None:
        if fs is None:
            fs, root = _filesystem(url)
        else:
            root = url
        self.fs = fs
        self.root = root.rstrip("/")

    def _key(self, sha256: str) -> str:
        return f"{self.root}/packages/{sha256}"

    def uri_of(self, sha256: str) -> str:
        return str(self.fs.unstrip_protocol(self._key(sha256)))

    def put_package(self, folder: Path) -> StoredPackage:
        sha, size = package_digest(folder)
        target = self._key(sha)
        if self.fs.exists(target):
            return StoredPackage(self.uri_of(sha), sha, size, created=False)
        tmp = f"{self.root}/tmp/{sha}-{uuid.uuid4().hex}"
        try:
            for path in package_files(folder):
                remote = f"{tmp}/{path.relative_to(folder).as_posix()}"
                self.fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
                self.fs.put_file(str(path), remote)
            self.fs.makedirs(f"{self.root}/packages", exist_ok=True)
            self.fs.mv(tmp, target, recursive=True)
        except Exception as exc:
            self._remove(tmp)
            if self.fs.exists(target):  # another writer stored the same content first
                return StoredPackage(self.uri_of(sha), sha, size, created=False)
            raise StorageError(f"could not store the package in {self.root}: {exc}") from exc
        return StoredPackage(self.uri_of(sha), sha, size, created=True)

    def _remove(self, key: str) -> None:
        try:
            if self.fs.exists(key):
                self.fs.rm(key, recursive=True)
        except OSError:
            pass

    def delete_package(self, sha256: str) -> None:
        self._remove(self._key(sha256))

    def local_path(self, sha256: str) -> Path | None:
        """The package folder itself when the store is a local directory (served in place, no copy)."""
        if "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)):
            path = Path(self._key(sha256))
            return path if path.is_dir() else None
        return None

    def fetch(self, uri: str, sha256: str, dest: Path) -> Path:
        """Copy a stored package to `dest` and check its digest, so a damaged store is noticed, not served."""
        fs, key = _filesystem(uri)
        if not fs.exists(key):
            raise NotFound(f"artifact {uri} is missing from the artifact store")
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}")
        try:
            fs.get(key.rstrip("/") + "/", str(tmp), recursive=True)
            got, _ = package_digest(tmp)
            if got != sha256:
                raise StorageError(f"artifact {uri} is damaged: its digest is {got}, the registry expects {sha256}")
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest
