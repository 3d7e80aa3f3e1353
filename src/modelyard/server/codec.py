"""Open Inference Protocol V2 over HTTP: JSON tensors and the binary tensor extension, both ways. Pure functions.

A request body is a JSON header, optionally followed by raw tensor bytes when `Inference-Header-Content-Length`
gives the header's length; each input with `parameters.binary_data_size` takes its bytes from there, in order.
Every malformed part raises InvalidArgument naming the input and field, before any model sees it.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson

from modelyard.datatypes import to_numpy
from modelyard.errors import InvalidArgument
from modelyard.server import jsonbody
from modelyard.server.types import InferInput, InferOutput, InferRequest, InferResponse, RequestedOutput

_DATATYPES = frozenset(["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                        "FP16", "FP32", "FP64", "BYTES"])  # fmt: skip
_LEN = struct.Struct("<I")


def decode_request(body: bytes, header_length: int | None = None) -> InferRequest:
    binary: memoryview | None = None
    head: bytes | memoryview = body
    if header_length is not None:
        if not 0 <= header_length <= len(body):
            raise InvalidArgument(
                f"Inference-Header-Content-Length: {header_length} is past the end of the {len(body)}-byte body"
            )
        view = memoryview(body)
        head, binary = view[:header_length], view[header_length:]
    doc = jsonbody.load(head)
    if not isinstance(doc, dict):
        raise InvalidArgument("the request body must be a JSON object")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidArgument("inputs: a non-empty list of input tensors is required")
    inputs, offset = [], 0
    for index, item in enumerate(raw_inputs):
        tensor, offset = _decode_input(index, item, binary, offset)
        inputs.append(tensor)
    if binary is not None and offset != len(binary):
        raise InvalidArgument(
            f"binary data: {len(binary) - offset} bytes are not claimed by any input's binary_data_size"
        )
    parameters = doc.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidArgument("parameters: must be an object")
    request_id = doc.get("id")
    return InferRequest(
        inputs=inputs,
        id=str(request_id) if request_id is not None else None,
        outputs=_decode_outputs(doc.get("outputs")),
        parameters=parameters,
    )


def check_shape(where: str, shape: Any) -> tuple[int, ...]:
    if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidArgument(f"{where}.shape: must be a list of non-negative integers, got {shape!r}")
    return tuple(shape)


def _decode_input(index: int, item: Any, binary: memoryview | None, offset: int) -> tuple[InferInput, int]:
    where = f"inputs[{index}]"
    if not isinstance(item, dict):
        raise InvalidArgument(f"{where}: must be an object with name, datatype, shape and data")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"{where}.name: a non-empty string is required")
    where = f"inputs[{index}] {name!r}"
    datatype = item.get("datatype")
    if type(datatype) is not str or datatype not in _DATATYPES:
        raise InvalidArgument(f"{where}.datatype: {datatype!r} is not an Open Inference Protocol datatype")
    shape = check_shape(where, item.get("shape"))
    count = math.prod(shape)
    parameters = item.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is None:
        if "data" not in item:
            raise InvalidArgument(f"{where}: needs data, or parameters.binary_data_size with a binary body")
        array = _from_json(where, item["data"], datatype, count)
    else:
        if binary is None:
            raise InvalidArgument(
                f"{where}: binary_data_size is set but the Inference-Header-Content-Length header is missing"
            )
        if not isinstance(size, int) or size < 0:
            raise InvalidArgument(f"{where}.parameters.binary_data_size: must be a non-negative integer")
        if offset + size > len(binary):
            raise InvalidArgument(
                f"{where}: binary_data_size {size} runs past the end of the body ({len(binary) - offset} bytes left)"
            )
        array = from_raw(where, binary[offset : offset + size], datatype, count)
        offset += size
    return InferInput(name, datatype, shape, array.reshape(shape)), offset


def _from_json(where: str, data: Any, datatype: str, count: int) -> np.ndarray:
    array = None
    if datatype != "BYTES" and jsonbody.is_lazy(data):
        array = jsonbody.numeric(data, to_numpy(datatype))
    if array is None:
        array = _from_python(where, jsonbody.plain(data), datatype)
    if array.size != count:
        raise InvalidArgument(f"{where}.data: has {array.size} elements but the shape needs {count}")
    return array


def _from_python(where: str, data: Any, datatype: str) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    if datatype == "BYTES":
        flat = _flatten(data)
        if not all(isinstance(v, str) for v in flat):
            raise InvalidArgument(f"{where}.data: BYTES data must be strings")
        array = np.empty(len(flat), dtype=object)
        array[:] = [v.encode() for v in flat]
        return array
    try:
        return np.asarray(data, dtype=to_numpy(datatype))
    except (ValueError, TypeError, OverflowError) as exc:
        error = exc
    if any(isinstance(v, list) for v in data):  # ragged nesting: read the elements in order, as Triton does
        try:
            return np.asarray(_flatten(data), dtype=to_numpy(datatype))
        except (ValueError, TypeError, OverflowError) as exc:
            error = exc
    raise InvalidArgument(f"{where}.data: not a valid list of {datatype} values ({error})")


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            out.append(value)
        else:
            stack.pop()
    return out


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
    items, pos = [], 0
    while pos < len(chunk):
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


def _decode_outputs(raw: Any) -> list[RequestedOutput] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidArgument("outputs: must be a list")
    outputs = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidArgument(f"outputs[{index}].name: a string is required")
        parameters = item.get("parameters") or {}
        binary = parameters.get("binary_data") if isinstance(parameters, dict) else None
        outputs.append(RequestedOutput(item["name"], bool(binary) if binary is not None else None))
    return outputs


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _holds_bytes(out: InferOutput) -> bool:
    """BYTES by declaration, or strings/objects whatever the model declared (sklearn labels, for one)."""
    return out.datatype == "BYTES" or out.data.dtype.kind in "OSU"


def _json_data(out: InferOutput) -> Any:
    if _holds_bytes(out):
        return [_as_text(v) for v in out.data.ravel()]
    return np.ascontiguousarray(out.data).ravel()


def to_raw(out: InferOutput) -> bytes:
    if _holds_bytes(out):
        parts = []
        for value in out.data.ravel():
            raw = value if isinstance(value, bytes) else str(value).encode()
            parts.append(_LEN.pack(len(raw)) + raw)
        return b"".join(parts)
    return np.ascontiguousarray(out.data, dtype=to_numpy(out.datatype)).tobytes()


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def encode_response(response: InferResponse) -> tuple[bytes, int | None]:
    """The body, and the JSON header's length when binary outputs follow it (for Inference-Header-Content-Length)."""
    outputs, chunks = [], []
    for out in response.outputs:
        entry: dict[str, Any] = {"name": out.name, "datatype": out.datatype, "shape": list(out.data.shape)}
        if out.binary:
            raw = to_raw(out)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = _json_data(out)
        outputs.append(entry)
    doc: dict[str, Any] = {"model_name": response.model_name, "model_version": response.model_version}
    if response.id is not None:
        doc["id"] = response.id
    doc["outputs"] = outputs
    head = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY, default=_default)
    if not chunks:
        return head, None
    return b"".join([head, *chunks]), len(head)
