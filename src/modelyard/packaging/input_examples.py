"""Input examples: read from .npy/.npz files or arrays, stored in a package as `example.npz`.

Strings are stored as fixed-width bytes so `np.load` never needs `allow_pickle` (a package must not execute code just
to read its example).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from modelyard.errors import InvalidArgument

Example = dict[str, np.ndarray]
ExampleSource = Path | str | np.ndarray | Mapping[str, np.ndarray]


def read_example(source: ExampleSource, default_name: str = "x") -> Example:
    if isinstance(source, np.ndarray):
        return {default_name: source}
    if isinstance(source, Mapping):
        return {str(k): np.asarray(v) for k, v in source.items()}
    path = Path(source)
    try:
        if path.suffix == ".npy":
            return {default_name: np.load(path, allow_pickle=False)}
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {k: _restore(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"example: cannot read {path}: {exc}") from None
    raise InvalidArgument(f"example: {path} must be a .npy or .npz file")


def _restore(array: np.ndarray) -> np.ndarray:
    return array.astype(object) if array.dtype.kind in "SU" else array


def write_example(path: Path, example: Example) -> None:
    stored = {k: (v.astype(np.bytes_) if v.dtype.kind == "O" else v) for k, v in example.items()}
    np.savez(path, **stored)  # type: ignore[arg-type]
