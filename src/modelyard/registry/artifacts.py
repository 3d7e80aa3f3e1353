"""Content-addressed package storage on any fsspec filesystem.

A package folder is stored under `packages/<digest>/`, where the digest is the sha256 of its files' relative paths
and contents. Files are first written under `tmp/` and the folder is renamed into place only once complete, so a
copy that fails midway leaves nothing that looks like a package (and the temporary folder is removed). Writers of
the same content may race: on a local disk the rename is atomic and the second writer keeps the first one's copy;
an object store has no folders to land inside, so the files move one by one, each the same bytes whoever wrote it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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


def _mtime(info: Mapping[str, Any]) -> float:
    """When an entry was last written, from what its filesystem reports (a local disk, memory, object stores)."""
    for key in ("mtime", "LastModified", "last_modified", "created", "updated"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
    return time.time()  # unknown: as young as can be, so it is kept


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
            self._touch(target)  # reused now: garbage collection leaves it alone while its version is registered
            return StoredPackage(self.uri_of(sha), sha, size, created=False)
        tmp = f"{self.root}/tmp/{sha}-{uuid.uuid4().hex}"
        try:
            for path in package_files(folder):
                remote = f"{tmp}/{path.relative_to(folder).as_posix()}"
                self.fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
                self.fs.put_file(str(path), remote)
            self.fs.makedirs(f"{self.root}/packages", exist_ok=True)
            created = self._publish(tmp, target)
        except Exception as exc:
            self._remove(tmp)
            if self.fs.exists(target):  # another writer stored the same content first
                return StoredPackage(self.uri_of(sha), sha, size, created=False)
            raise StorageError(f"could not store the package in {self.root}: {exc}") from exc
        return StoredPackage(self.uri_of(sha), sha, size, created=created)

    def _publish(self, tmp: str, target: str) -> bool:
        """Move a finished copy to its content address; False when another writer's copy was there first.
        (`fs.mv` onto an existing folder moves the copy *inside* it: the digest changed under every version.)"""
        if self._is_local():
            try:
                os.rename(tmp, target)  # atomic, and refused onto a folder that is not empty
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                self._remove(tmp)
                return False
            return True
        for path in self.fs.find(tmp):
            self.fs.mv(path, target + path[len(tmp) :])
        self._remove(tmp)
        return True

    def _is_local(self) -> bool:
        return "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def _touch(self, key: str) -> None:
        if self._is_local():
            with contextlib.suppress(OSError):
                os.utime(key)

    def stored(self) -> dict[str, float]:
        """Each package's digest and when it was last written or reused (seconds since the epoch)."""
        return self._ages(f"{self.root}/packages")

    def temporary(self) -> dict[str, float]:
        """Each copy under `tmp/` (a registration under way, or one that was killed) and when it was written."""
        return self._ages(f"{self.root}/tmp")

    def delete_temporary(self, name: str) -> None:
        self._remove(f"{self.root}/tmp/{name}")

    def _ages(self, folder: str) -> dict[str, float]:
        try:
            entries = self.fs.ls(folder, detail=True) if self.fs.exists(folder) else []
        except OSError as exc:
            raise StorageError(f"cannot list {folder}: {exc}") from exc
        return {str(e["name"]).rstrip("/").rsplit("/", 1)[-1]: _mtime(e) for e in entries}

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
        if self._is_local():
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
