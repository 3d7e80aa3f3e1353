"""Open Inference Protocol V2 over HTTP: JSON tensors and the binary tensor extension, both ways. Pure functions.

A request body is a JSON header, optionally followed by raw tensor bytes when `Inference-Header-Content-Length`
gives the header's length; each input with `parameters.binary_data_size` takes its bytes from there, in order.
Every malformed part raises InvalidArgument naming the input and field, before any model sees it. A response's
output goes as raw bytes after the header when the request asked for it, per output (`binary_data`) or for all
(`binary_data_output`): the choice is HTTP's, so it is made here and not in the data plane.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from modelyard.datatypes import DATATYPES, to_numpy
from modelyard.errors import InvalidArgument
from modelyard.protocol import jsonbody
from modelyard.protocol.tensors import check_shape, from_raw, holds_bytes, to_raw
from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse, RequestedOutput


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


def _decode_input(index: int, item: Any, binary: memoryview | None, offset: int) -> tuple[InferInput, int]:
    where = f"inputs[{index}]"
    if not isinstance(item, dict):
        raise InvalidArgument(f"{where}: must be an object with name, datatype, shape and data")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"{where}.name: a non-empty string is required")
    where = f"inputs[{index}] {name!r}"
    datatype = item.get("datatype")
    if type(datatype) is not str or datatype not in DATATYPES:
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
        if type(size) is not int or size < 0:  # a bool is an int to Python, not a size
            raise InvalidArgument(f"{where}.parameters.binary_data_size: must be a non-negative integer")
        if offset + size > len(binary):
            raise InvalidArgument(
                f"{where}: binary_data_size {size} runs past the end of the body ({len(binary) - offset} bytes left)"
            )
        array = from_raw(where, binary[offset : offset + size], datatype, count)
        offset += size
    return InferInput(name, datatype, shape, array.reshape(shape)), offset


def _from_json(where: str, data: Any, datatype: str, count: int) -> np.ndarray:
    """Counts are checked before values become Python objects: data far beyond its shape is refused unread."""
    array = None
    if jsonbody.is_lazy(data):
        if datatype != "BYTES" and len(data) <= count:  # numbers straight into one buffer, 8 bytes each
            array = jsonbody.numeric(data, to_numpy(datatype))
        if array is None:  # each value would become a Python object: count them first (twice the shape at most)
            most = 2 * count + 1024
            found = jsonbody.count_values(data, most)
            if found != count:
                has = f"more than {most:,}" if found > most else f"{found}"
                raise InvalidArgument(f"{where}.data: has {has} elements but the shape needs {count}")
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
        return _no_null(where, np.asarray(data, dtype=to_numpy(datatype)), data)
    except (ValueError, TypeError, OverflowError) as exc:
        error = exc
    if any(isinstance(v, list) for v in data):  # ragged nesting: read the elements in order, as Triton does
        try:
            flat = _flatten(data)
            return _no_null(where, np.asarray(flat, dtype=to_numpy(datatype)), flat)
        except (ValueError, TypeError, OverflowError) as exc:
            error = exc
    raise InvalidArgument(f"{where}.data: not a valid list of {datatype} values ({error})")


def _no_null(where: str, array: np.ndarray, data: list[Any]) -> np.ndarray:
    """JSON has no NaN, so a NaN in a float tensor read from JSON was a `null`, which numpy turns into NaN. A flat
    list of numbers adds up (0.4 µs for W1's 32) and so holds no null; only a list that does not (nesting, a None)
    has its array looked at (3 µs)."""
    if array.dtype.kind != "f":
        return array
    try:
        sum(data)
        return array
    except (TypeError, OverflowError):
        pass
    if np.isnan(array).any():
        raise InvalidArgument(f"{where}.data: null is not a number")
    return array


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
        outputs.append(RequestedOutput(item["name"], parameters if isinstance(parameters, dict) else {}))
    return outputs


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _json_data(out: InferOutput) -> Any:
    if holds_bytes(out.datatype, out.data):
        return [_as_text(v) for v in out.data.ravel()]
    return np.ascontiguousarray(out.data).ravel()


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def binary_outputs(request: InferRequest | None) -> tuple[bool, dict[str, bool]]:
    """Whether outputs go as raw bytes: the request's `binary_data_output`, and each output's own `binary_data`."""
    if request is None:
        return False, {}
    chosen = {}
    for out in request.outputs or ():
        binary = out.parameters.get("binary_data")
        if binary is not None:
            chosen[out.name] = bool(binary)
    return bool(request.parameters.get("binary_data_output", False)), chosen


def encode_response(response: InferResponse, request: InferRequest | None = None) -> tuple[bytes, int | None]:
    """The body, and the JSON header's length when binary outputs follow it (for Inference-Header-Content-Length).
    `request`: the request answered, whose parameters choose which outputs are binary (none without it)."""
    default, chosen = binary_outputs(request)
    outputs, chunks = [], []
    for out in response.outputs:
        entry: dict[str, Any] = {"name": out.name, "datatype": out.datatype, "shape": list(out.data.shape)}
        if chosen.get(out.name, default):
            raw = to_raw(out.datatype, out.data)
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
