"""The Open Inference Protocol over gRPC: `inference.GRPCInferenceService` on the same DataPlane as HTTP.

Conversion only: protobuf messages to `InferRequest` and back, and the error tree to gRPC status codes. Tensors
arrive as `raw_input_contents` (the fast path tritonclient uses) or as typed `contents`; replies always use
`raw_output_contents`, which every V2 client reads.
"""

from __future__ import annotations

import math
from typing import Any

import grpc
import numpy as np

from modelyard import __version__
from modelyard.errors import InvalidArgument, ModelyardError
from modelyard.server.codec import check_shape, from_raw, to_raw
from modelyard.server.dataplane import EXTENSIONS, DataPlane
from modelyard.server.grpc import grpc_predict_v2_pb2 as pb
from modelyard.server.types import InferInput, InferRequest, InferResponse, RequestedOutput


def _json_format() -> Any:
    """Imported on the first config or statistics call: 20 ms of every worker's start (it pulls in protobuf's
    pure-Python message machinery) for two calls that most deployments never make over gRPC."""
    from google.protobuf import json_format

    return json_format


_CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}  # fmt: skip


def _parameter(value: pb.InferParameter) -> Any:
    kind = value.WhichOneof("parameter_choice")
    return getattr(value, kind) if kind else None


def _input(index: int, tensor: Any, raw: bytes | None) -> InferInput:
    where = f"inputs[{index}] {tensor.name!r}"
    if not tensor.name:
        raise InvalidArgument(f"inputs[{index}].name: a non-empty string is required")
    datatype = tensor.datatype
    if datatype not in _CONTENTS and datatype != "FP16":
        raise InvalidArgument(f"{where}.datatype: {datatype!r} is not an Open Inference Protocol datatype")
    shape = check_shape(where, list(tensor.shape))
    count = math.prod(shape)
    if raw is not None:
        array = from_raw(where, memoryview(raw), datatype, count)
    else:
        field = _CONTENTS.get(datatype)
        if field is None:
            raise InvalidArgument(f"{where}: FP16 tensors must be sent as raw_input_contents")
        values = list(getattr(tensor.contents, field))
        if datatype == "BYTES":
            array = np.empty(len(values), dtype=object)
            array[:] = values
        else:
            from modelyard.datatypes import to_numpy

            array = np.asarray(values, dtype=to_numpy(datatype))
        if array.size != count:
            raise InvalidArgument(f"{where}.contents: has {array.size} elements but the shape needs {count}")
    return InferInput(tensor.name, datatype, shape, array.reshape(shape))


def to_request(message: pb.ModelInferRequest) -> InferRequest:
    raws = list(message.raw_input_contents)
    if raws and len(raws) != len(message.inputs):
        raise InvalidArgument(
            f"raw_input_contents: {len(raws)} entries for {len(message.inputs)} inputs; give one per input, in order"
        )
    if not message.inputs:
        raise InvalidArgument("inputs: a non-empty list of input tensors is required")
    inputs = [_input(i, t, raws[i] if raws else None) for i, t in enumerate(message.inputs)]
    outputs = [RequestedOutput(o.name, True) for o in message.outputs] or None
    parameters = {k: _parameter(v) for k, v in message.parameters.items()}
    return InferRequest(inputs=inputs, id=message.id or None, outputs=outputs, parameters=parameters)


class InferenceServicer:
    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    async def ServerLive(self, request: Any, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.dataplane.live())

    async def ServerReady(self, request: Any, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.dataplane.ready())

    async def ModelReady(self, request: Any, context: Any) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.dataplane.model_ready(request.name, request.version or None))

    async def ServerMetadata(self, request: Any, context: Any) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="modelyard", version=__version__, extensions=EXTENSIONS)

    async def ModelMetadata(self, request: Any, context: Any) -> pb.ModelMetadataResponse:
        meta = await _call(context, self.dataplane.model_metadata, request.name, request.version or None)
        tensors = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[tensors(**t) for t in meta["inputs"]],
            outputs=[tensors(**t) for t in meta["outputs"]],
        )

    async def ModelInfer(self, request: Any, context: Any) -> pb.ModelInferResponse:
        response = await _call(context, self._infer, request)
        tensor = pb.ModelInferResponse.InferOutputTensor
        return pb.ModelInferResponse(
            model_name=response.model_name,
            model_version=response.model_version,
            id=response.id or "",
            outputs=[tensor(name=o.name, datatype=o.datatype, shape=o.data.shape) for o in response.outputs],
            raw_output_contents=[to_raw(o) for o in response.outputs],
        )

    async def _infer(self, request: Any) -> InferResponse:
        return await self.dataplane.infer(request.model_name, request.model_version or None, to_request(request))

    async def ModelConfig(self, request: Any, context: Any) -> pb.ModelConfigResponse:
        config = await _call(context, self.dataplane.model_config, request.name, request.version or None)
        message = _json_format().ParseDict(config, pb.ModelConfig(), ignore_unknown_fields=True)
        return pb.ModelConfigResponse(config=message)

    async def ModelStatistics(self, request: Any, context: Any) -> pb.ModelStatisticsResponse:
        stats = await _call(context, self.dataplane.model_stats, request.name or None, request.version or None)
        response = pb.ModelStatisticsResponse()
        _json_format().ParseDict(stats, response, ignore_unknown_fields=True)
        return response

    async def RepositoryIndex(self, request: Any, context: Any) -> pb.RepositoryIndexResponse:
        entries = self.dataplane.repository_index()
        if request.ready:
            entries = [e for e in entries if e["state"] == "READY"]
        return pb.RepositoryIndexResponse(models=[pb.RepositoryIndexResponse.ModelIndex(**e) for e in entries])

    async def RepositoryModelLoad(self, request: Any, context: Any) -> pb.RepositoryModelLoadResponse:
        await _call(context, self.dataplane.load, _reference(request))
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, request: Any, context: Any) -> pb.RepositoryModelUnloadResponse:
        await _call(context, self.dataplane.unload, _reference(request))
        return pb.RepositoryModelUnloadResponse()


def _reference(request: Any) -> str:
    """`model_name`, with a version from the parameters (`version`, a string or int64 parameter) as in HTTP."""
    if "version" not in request.parameters:
        return str(request.model_name)
    param = request.parameters["version"]
    version = param.string_param or param.int64_param
    return f"{request.model_name}/{version}"


async def _call(context: Any, fn: Any, *args: Any) -> Any:
    """Run a data-plane call, turning its errors into the status code the error class names."""
    try:
        result = fn(*args)
        if hasattr(result, "__await__"):
            result = await result
    except ModelyardError as exc:
        await context.abort(grpc.StatusCode[exc.grpc_code], exc.message)
    return result


SERVICE = "inference.GRPCInferenceService"
METHODS: dict[str, tuple[Any, Any]] = {
    "ServerLive": (pb.ServerLiveRequest, pb.ServerLiveResponse),
    "ServerReady": (pb.ServerReadyRequest, pb.ServerReadyResponse),
    "ModelReady": (pb.ModelReadyRequest, pb.ModelReadyResponse),
    "ServerMetadata": (pb.ServerMetadataRequest, pb.ServerMetadataResponse),
    "ModelMetadata": (pb.ModelMetadataRequest, pb.ModelMetadataResponse),
    "ModelInfer": (pb.ModelInferRequest, pb.ModelInferResponse),
    "ModelConfig": (pb.ModelConfigRequest, pb.ModelConfigResponse),
    "ModelStatistics": (pb.ModelStatisticsRequest, pb.ModelStatisticsResponse),
    "RepositoryIndex": (pb.RepositoryIndexRequest, pb.RepositoryIndexResponse),
    "RepositoryModelLoad": (pb.RepositoryModelLoadRequest, pb.RepositoryModelLoadResponse),
    "RepositoryModelUnload": (pb.RepositoryModelUnloadRequest, pb.RepositoryModelUnloadResponse),
}


def method_stub(channel: Any, name: str) -> Any:
    """A callable for one method of the service on a client channel (sync or aio), with our message classes;
    for callers that do not use tritonclient (our client, tests, benchmarks)."""
    request, response = METHODS[name]
    return channel.unary_unary(
        f"/{SERVICE}/{name}",
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )


def service_handler(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    """The standard service name and methods, each bound to the servicer with our message classes."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
        for name, (request, response) in METHODS.items()
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


async def start_grpc(dataplane: DataPlane, host: str, port: int, max_message_bytes: int) -> grpc.aio.Server:
    """A gRPC server on the running event loop. Several worker processes share the port (SO_REUSEPORT)."""
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
    )
    server.add_generic_rpc_handlers((service_handler(InferenceServicer(dataplane)),))
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    await server.start()
    return server
