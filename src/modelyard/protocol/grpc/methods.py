"""The service's name and methods with their message classes: what the server registers and a caller dials.

Written once here, so that the servicer (`server/transports/grpc_service.py`) and every caller that does not use
tritonclient (our client, the tests, the benchmarks) agree on the paths and the messages.
"""

from __future__ import annotations

from typing import Any

from modelyard.protocol.grpc import grpc_predict_v2_pb2 as pb

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
    """A callable for one method of the service on a client channel (sync or aio), with our message classes."""
    request, response = METHODS[name]
    return channel.unary_unary(
        f"/{SERVICE}/{name}",
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )
