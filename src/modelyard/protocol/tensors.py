"""Tensors as raw bytes: the binary tensor extension over HTTP and `raw_*_contents` over gRPC share one layout.

Numbers are little-endian in row-major order; a BYTES element is a 4-byte little-endian length and its bytes.
Every mismatch between the bytes and the shape raises InvalidArgument naming the tensor (`where`).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from modelyard.datatypes import to_numpy
from modelyard.errors import InvalidArgument

MAX_DIMS = 64  # numpy's limit: a deeper shape cannot be an array
HEADER_LENGTH = "Inference-Header-Content-Length"  # HTTP: the JSON header's length, raw tensors after it
_LEN = struct.Struct("<I")


def check_shape(where: str, shape: Any) -> tuple[int, ...]:
    if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidArgument(f"{where}.shape: must be a list of non-negative integers, got {shape!r}")
    if len(shape) > MAX_DIMS:
        raise InvalidArgument(f"{where}.shape: has {len(shape)} dimensions; at most {MAX_DIMS} are supported")
    return tuple(shape)


def from_raw(where: str, chunk: memoryview, datatype: str, count: int) -> np.ndarray:
    if datatype == "BYTES":
        return _unpack_bytes(where, chunk, count)
    dtype = to_numpy(datatype)
    if len(chunk) != count * dtype.itemsize:
        raise InvalidArgument(
            f"{where}: binary_data_size is {len(chunk)} bytes but the shape needs "
            f"{count * dtype.itemsize} for {datatype}"
        )
    return np.frombuffer(chunk, dtype=dtype)


def _unpack_bytes(where: str, chunk: memoryview, count: int) -> np.ndarray:
    items: list[bytes] = []
    pos = 0
    while pos < len(chunk):
        if len(items) == count:  # counted as they come: a flood of tiny elements costs no more than the shape
            raise InvalidArgument(f"{where}: has more BYTES elements than the {count} the shape needs")
        if pos + 4 > len(chunk):
            raise InvalidArgument(f"{where}: truncated BYTES element length at byte {pos}")
        (length,) = _LEN.unpack_from(chunk, pos)
        pos += 4
        if pos + length > len(chunk):
            raise InvalidArgument(f"{where}: BYTES element of {length} bytes runs past its binary data")
        items.append(bytes(chunk[pos : pos + length]))
        pos += length
    if len(items) != count:
        raise InvalidArgument(f"{where}: has {len(items)} BYTES elements but the shape needs {count}")
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def holds_bytes(datatype: str, data: np.ndarray) -> bool:
    """BYTES by declaration, or strings/objects whatever the model declared (sklearn labels, for one)."""
    return datatype == "BYTES" or data.dtype.kind in "OSU"


def to_raw(datatype: str, data: np.ndarray) -> bytes:
    if holds_bytes(datatype, data):
        parts = []
        for value in data.ravel():
            raw = value if isinstance(value, bytes) else str(value).encode()
            parts.append(_LEN.pack(len(raw)) + raw)
        return b"".join(parts)
    return np.ascontiguousarray(data, dtype=to_numpy(datatype)).tobytes()
