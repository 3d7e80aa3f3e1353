"""Protobuf messages to the protocol's types and back, for both sides of a call. Pure conversion, no I/O.

Tensors arrive as `raw_input_contents` (the fast path tritonclient uses) or as typed `contents`; replies always use
`raw_output_contents`, which every V2 client reads. Every malformed part raises InvalidArgument naming the input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelyard.datatypes import DATATYPES, from_numpy, to_numpy
from modelyard.errors import InvalidArgument
from modelyard.protocol.calls import Result, served_name, served_version
from modelyard.protocol.grpc import grpc_predict_v2_pb2 as pb
from modelyard.protocol.tensors import check_shape, from_raw, to_raw
from modelyard.protocol.types import InferInput, InferRequest, InferResponse, RequestedOutput

# The typed `contents` field of each datatype; FP16 has none (raw contents only).
CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}  # fmt: skip


def _parameter(value: pb.InferParameter) -> Any:
    kind = value.WhichOneof("parameter_choice")
    return getattr(value, kind) if kind else None


def _input(index: int, tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None) -> InferInput:
    where = f"inputs[{index}] {tensor.name!r}"
    if not tensor.name:
        raise InvalidArgument(f"inputs[{index}].name: a non-empty string is required")
    datatype = tensor.datatype
    if datatype not in DATATYPES:
        raise InvalidArgument(f"{where}.datatype: {datatype!r} is not an Open Inference Protocol datatype")
    shape = check_shape(where, list(tensor.shape))
    count = math.prod(shape)
    if raw is not None:
        array = from_raw(where, memoryview(raw), datatype, count)
    else:
        field = CONTENTS.get(datatype)
        if field is None:
            raise InvalidArgument(f"{where}: FP16 tensors must be sent as raw_input_contents")
        values = list(getattr(tensor.contents, field))
        if datatype == "BYTES":
            array = np.empty(len(values), dtype=object)
            array[:] = values
        else:
            try:
                array = np.asarray(values, dtype=to_numpy(datatype))
            except (OverflowError, ValueError) as exc:  # 1000 for INT8, say
                raise InvalidArgument(f"{where}.contents.{field}: not valid {datatype} values ({exc})") from None
        if array.size != count:
            raise InvalidArgument(f"{where}.contents: has {array.size} elements but the shape needs {count}")
    return InferInput(tensor.name, datatype, shape, array.reshape(shape))


def to_request(message: pb.ModelInferRequest) -> InferRequest:
    """The server's side: a ModelInfer request as the data plane takes it."""
    raws = list(message.raw_input_contents)
    if raws and len(raws) != len(message.inputs):
        raise InvalidArgument(
            f"raw_input_contents: {len(raws)} entries for {len(message.inputs)} inputs; give one per input, in order"
        )
    if not message.inputs:
        raise InvalidArgument("inputs: a non-empty list of input tensors is required")
    inputs = [_input(i, t, raws[i] if raws else None) for i, t in enumerate(message.inputs)]
    outputs = [RequestedOutput(o.name) for o in message.outputs] or None
    parameters = {k: _parameter(v) for k, v in message.parameters.items()}
    return InferRequest(inputs=inputs, id=message.id or None, outputs=outputs, parameters=parameters)


def to_reply(response: InferResponse) -> pb.ModelInferResponse:
    """The server's side: the data plane's response as a ModelInfer reply, every output raw."""
    tensor = pb.ModelInferResponse.InferOutputTensor
    return pb.ModelInferResponse(
        model_name=response.model_name,
        model_version=response.model_version,
        id=response.id or "",
        outputs=[tensor(name=o.name, datatype=o.datatype, shape=o.data.shape) for o in response.outputs],
        raw_output_contents=[to_raw(o.datatype, o.data) for o in response.outputs],
    )


def infer_request(
    model: str, version: str | None, inputs: Mapping[str, Any], outputs: Sequence[str] | None = None
) -> pb.ModelInferRequest:
    """The caller's side: numpy inputs as a ModelInfer request with raw contents."""
    tensors, raw = [], []
    for key, value in inputs.items():
        array = np.asarray(value)
        datatype = from_numpy(array.dtype)
        tensors.append(pb.ModelInferRequest.InferInputTensor(name=key, datatype=datatype, shape=list(array.shape)))
        raw.append(to_raw(datatype, array))
    wanted = [pb.ModelInferRequest.InferRequestedOutputTensor(name=n) for n in outputs or []]
    return pb.ModelInferRequest(
        model_name=served_name(model),
        model_version=served_version(model, version) or "",
        inputs=tensors,
        raw_input_contents=raw,
        outputs=wanted,
    )


def infer_result(reply: pb.ModelInferResponse) -> Result:
    """The caller's side: a ModelInfer reply as arrays by output name, shaped."""
    arrays = {}
    for out, raw in zip(reply.outputs, reply.raw_output_contents, strict=True):
        shape = tuple(out.shape)
        count = int(np.prod(shape)) if shape else 1
        arrays[out.name] = from_raw(f"outputs {out.name}", memoryview(raw), out.datatype, count).reshape(shape)
    return Result(reply.model_name, reply.model_version, arrays)
