"""Open Inference Protocol V2 datatype names and their numpy equivalents."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from modelyard.errors import InvalidArgument

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]

DATATYPES: frozenset[str] = frozenset(get_args(Datatype))  # the one list: codecs and converters check against it

_TO_NUMPY: dict[str, np.dtype[np.generic]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
_FROM_NUMPY: dict[np.dtype[np.generic], str] = {v: k for k, v in _TO_NUMPY.items()}

# ONNX TensorProto element types as ONNX Runtime spells them in NodeArg.type.
_FROM_ORT: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def to_numpy(datatype: str) -> np.dtype[np.generic]:
    try:
        return _TO_NUMPY[datatype]
    except KeyError:
        raise InvalidArgument(f"unknown datatype {datatype!r}; expected one of {', '.join(_TO_NUMPY)}") from None


def from_numpy(dtype: np.dtype[np.generic]) -> str:
    """V2 name of a numpy dtype; strings and bytes of any width are BYTES."""
    if dtype.kind in "OSU":
        return "BYTES"
    try:
        return _FROM_NUMPY[np.dtype(dtype)]
    except KeyError:
        raise InvalidArgument(f"numpy dtype {dtype} has no Open Inference Protocol datatype") from None


def from_onnx_type(ort_type: str) -> str:
    try:
        return _FROM_ORT[ort_type]
    except KeyError:
        raise InvalidArgument(f"ONNX type {ort_type} is not supported by the Open Inference Protocol") from None
