"""Content digests of model files and package folders: the registry's storage key and the serve cache's key.

Plain hashlib and the filesystem, so `modelyard serve model.onnx` keys its package cache without importing the
registry's storage stack (fsspec).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_SKIP = {"__pycache__", ".DS_Store"}


def package_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not _SKIP.intersection(p.relative_to(folder).parts))


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def package_digest(folder: Path) -> tuple[str, int]:
    """sha256 over `relative/path NUL file-sha256 LF` lines, and the total size in bytes."""
    digest = hashlib.sha256()
    size = 0
    for path in package_files(folder):
        rel = path.relative_to(folder).as_posix()
        digest.update(f"{rel}\0{file_sha256(path)}\n".encode())
        size += path.stat().st_size
    return digest.hexdigest(), size
