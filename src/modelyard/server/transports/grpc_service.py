"""The Open Inference Protocol over gRPC: `inference.GRPCInferenceService` on the same DataPlane as HTTP.

Handlers only: messages are converted in `protocol/grpc/convert.py`, and the error tree maps to gRPC status codes
here. The method table is the protocol's (`protocol/grpc/methods.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from modelyard import __version__
from modelyard.errors import ModelyardError
from modelyard.protocol.grpc import grpc_predict_v2_pb2 as pb
from modelyard.protocol.grpc.convert import to_reply, to_request
from modelyard.protocol.grpc.methods import METHODS, SERVICE
from modelyard.protocol.types import InferResponse
from modelyard.server.dataplane import EXTENSIONS, DataPlane
from modelyard.server.repository.access import bearer


def _json_format() -> Any:
    """Imported on the first config or statistics call: 20 ms of every worker's start (it pulls in protobuf's
    pure-Python message machinery) for two calls that most deployments never make over gRPC."""
    from google.protobuf import json_format

    return json_format


class InferenceServicer:
    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.dataplane.live())

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.dataplane.ready())

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.dataplane.model_ready(request.name, request.version or None))

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Any) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="modelyard", version=__version__, extensions=EXTENSIONS)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> pb.ModelMetadataResponse:
        meta = await _call(context, self.dataplane.model_metadata, request.name, request.version or None)
        tensors = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[tensors(**t) for t in meta["inputs"]],
            outputs=[tensors(**t) for t in meta["outputs"]],
        )

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
        return to_reply(await _call(context, self._infer, request))

    async def _infer(self, request: pb.ModelInferRequest) -> InferResponse:
        return await self.dataplane.infer(request.model_name, request.model_version or None, to_request(request))

    async def ModelConfig(self, request: pb.ModelConfigRequest, context: Any) -> pb.ModelConfigResponse:
        config = await _call(context, self.dataplane.model_config, request.name, request.version or None)
        message = _json_format().ParseDict(config, pb.ModelConfig(), ignore_unknown_fields=True)
        return pb.ModelConfigResponse(config=message)

    async def ModelStatistics(self, request: pb.ModelStatisticsRequest, context: Any) -> pb.ModelStatisticsResponse:
        stats = await _call(context, self.dataplane.model_stats, request.name or None, request.version or None)
        response = pb.ModelStatisticsResponse()
        _json_format().ParseDict(stats, response, ignore_unknown_fields=True)
        return response

    async def RepositoryIndex(self, request: pb.RepositoryIndexRequest, context: Any) -> pb.RepositoryIndexResponse:
        entries = self.dataplane.repository_index()
        if request.ready:
            entries = [e for e in entries if e["state"] == "READY"]
        return pb.RepositoryIndexResponse(models=[pb.RepositoryIndexResponse.ModelIndex(**e) for e in entries])

    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Any
    ) -> pb.RepositoryModelLoadResponse:
        await _call(context, self.dataplane.load, _reference(request), _credential(context))
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Any
    ) -> pb.RepositoryModelUnloadResponse:
        await _call(context, self.dataplane.unload, _reference(request), _credential(context))
        return pb.RepositoryModelUnloadResponse()


def _reference(request: pb.RepositoryModelLoadRequest | pb.RepositoryModelUnloadRequest) -> str:
    """`model_name`, with a version from the parameters (`version`, a string or int64 parameter) as in HTTP."""
    if "version" not in request.parameters:
        return str(request.model_name)
    param = request.parameters["version"]
    version = param.string_param or param.int64_param
    return f"{request.model_name}/{version}"


def _credential(context: Any) -> str | None:
    """The control token of the call's `authorization` metadata (`Bearer <token>`), as HTTP's header."""
    return bearer(dict(context.invocation_metadata() or ()).get("authorization"))


async def _call(context: Any, fn: Any, *args: Any) -> Any:
    """Run a data-plane call, turning its errors into the status code the error class names."""
    try:
        result = fn(*args)
        if hasattr(result, "__await__"):
            result = await result
    except ModelyardError as exc:
        await context.abort(grpc.StatusCode[exc.grpc_code], exc.message)
    return result


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


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate and key, and the CAs whose clients it accepts (mutual TLS) where given."""

    cert: str
    key: str
    ca: str = ""

    def credentials(self) -> grpc.ServerCredentials:
        chain = [(Path(self.key).read_bytes(), Path(self.cert).read_bytes())]
        ca = Path(self.ca).read_bytes() if self.ca else None
        return grpc.ssl_server_credentials(chain, root_certificates=ca, require_client_auth=ca is not None)


async def start_grpc(
    dataplane: DataPlane, host: str, port: int, max_message_bytes: int, tls: ServerTls | None = None
) -> grpc.aio.Server:
    """A gRPC server on the running event loop, over TLS where `tls` is given. Several worker processes share the
    port (SO_REUSEPORT)."""
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
    )
    server.add_generic_rpc_handlers((service_handler(InferenceServicer(dataplane)),))
    address = f"{host}:{port}"
    bound = server.add_secure_port(address, tls.credentials()) if tls else server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {address}")
    await server.start()
    return server
