"""Content digests of model files and package folders: the registry's storage key and the serve cache's key.

Plain hashlib and the filesystem, so `modelyard serve model.onnx` keys its package cache without importing the
registry's storage stack (fsspec).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from modelyard.errors import StorageError

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


def file_identity(folder: Path) -> list[list[object]]:
    """Each file's path and identity: size, modification and change times, inode. Writing a file or resetting its
    times changes its change time (ctime), which no caller can set."""
    out: list[list[object]] = []
    for path in package_files(folder):
        st = path.stat()
        out.append([path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino])
    return out


def verify_package(folder: Path, sha256: str, stamps: Path, what: str = "the package") -> None:
    """Raise StorageError unless `folder` holds the package `sha256` (`what` names it in the message, without the
    folder: callers of a server see it). Hashed once; the files' identity is then kept in `stamps/<sha256>.json`,
    and while it matches, the folder is not hashed again (a restart stays fast)."""
    stamp = stamps / f"{sha256}.json"
    identity = file_identity(folder)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(stamp.read_text()) == identity:
            return
    got, _ = package_digest(folder)
    if got != sha256:
        raise StorageError(f"{what} is damaged: its digest is {got}, the registry expects {sha256}")
    remember_package(folder, sha256, stamps, identity)


def remember_package(folder: Path, sha256: str, stamps: Path, identity: list[list[object]] | None = None) -> None:
    """Record that `folder` holds `sha256` as its files are now, for one that was just checked (a fetch hashes
    what it copies): the next `verify_package` need not hash it."""
    stamps.mkdir(parents=True, exist_ok=True)
    stamp = stamps / f"{sha256}.json"
    tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(file_identity(folder) if identity is None else identity))
    os.replace(tmp, stamp)
