"""V2 requests and replies over HTTP on the caller's side, without I/O: numpy in, bytes out, and back. The client
and the load generator build their requests here.

Requests carry tensors as raw bytes (the binary tensor extension) by default: no float formatting or parsing on
either side, which is what serves W2-sized tensors at several times JSON's rate (docs/measurements.md, "HTTP stack").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelyard.datatypes import from_numpy, to_numpy
from modelyard.errors import InvalidArgument
from modelyard.protocol.tensors import HEADER_LENGTH, from_raw, to_raw
from modelyard.uri import parse_ref


@dataclass(frozen=True, slots=True)
class Encoded:
    """One V2 infer request over HTTP, ready for every attempt of a call."""

    body: bytes
    headers: dict[str, str]
    path: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    model_name: str
    model_version: str
    outputs: dict[str, np.ndarray]


def served_name(model: str) -> str:
    """The name a server knows a reference by: `fraud`, or `fraud@production` (servers resolve the alias)."""
    ref = parse_ref(model)
    return f"{ref.name}@{ref.alias}" if ref.alias else ref.name


def served_version(model: str, version: str | None = None) -> str | None:
    """The version asked for: `version=`, else the one in the reference (`fraud/3`), else None (the server's)."""
    ref = parse_ref(model)
    return version or (str(ref.version) if ref.version is not None else None)


def model_path(model: str, version: str | None = None) -> str:
    """`fraud`, `fraud@production` or `fraud/3` (or `version=`) → the V2 path of its infer endpoint."""
    name, version = served_name(model), served_version(model, version)
    return f"/v2/models/{name}/versions/{version}/infer" if version else f"/v2/models/{name}/infer"


def encode(
    inputs: Mapping[str, Any],
    outputs: Sequence[str] | None = None,
    binary: bool = True,
    request_id: str | None = None,
    path: str = "",
) -> Encoded:
    tensors, chunks = [], []
    for name, value in inputs.items():
        array = np.asarray(value)
        datatype = from_numpy(array.dtype)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            raw = to_raw(datatype, array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = [v.decode() if isinstance(v, bytes) else v for v in array.ravel().tolist()]
        tensors.append(entry)
    doc: dict[str, Any] = {"inputs": tensors}
    if request_id is not None:
        doc["id"] = request_id
    if outputs is not None:
        doc["outputs"] = [{"name": n, "parameters": {"binary_data": binary}} for n in outputs]
    elif binary:
        doc["parameters"] = {"binary_data_output": True}
    head = orjson.dumps(doc)
    if not binary:
        return Encoded(head, {"content-type": "application/json"}, path)
    headers = {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
    return Encoded(head + b"".join(chunks), headers, path)


def decode(body: bytes, header_length: int | None) -> Result:
    """A reply body (JSON, or JSON header + raw tensors) → arrays by output name, shaped."""
    head_end = header_length if header_length is not None else len(body)
    try:
        doc = orjson.loads(body[:head_end])
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the server's reply is not V2 JSON: {exc}") from None
    raw, offset, arrays = memoryview(body), head_end, {}
    for out in doc.get("outputs", []):
        shape = tuple(out["shape"])
        count = int(np.prod(shape)) if shape else 1
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            array = from_raw(f"outputs {out['name']}", raw[offset : offset + size], out["datatype"], count)
            offset += size
        elif out["datatype"] == "BYTES":
            array = np.array([str(v).encode() for v in out["data"]], dtype=object)
        else:
            array = np.asarray(out["data"], dtype=to_numpy(out["datatype"]))
        arrays[out["name"]] = array.reshape(shape)
    return Result(doc.get("model_name", ""), str(doc.get("model_version", "")), arrays)


def error_message(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("error", ""))
    except (orjson.JSONDecodeError, AttributeError):
        return body[:200].decode(errors="replace")
