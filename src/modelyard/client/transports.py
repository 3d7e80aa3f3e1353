"""The client's I/O: one V2 infer call to one endpoint over HTTP (httpx) or gRPC (grpcio), sync and async.

Transports convert and map errors, nothing else: connection failures become ServerUnreachable, the call's own
timeout DeadlineExceeded, and a server's error reply the class the server raised (`errors.from_http/from_grpc`).
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from modelyard.client.tls import Tls
from modelyard.errors import DeadlineExceeded, ModelyardError, ServerUnreachable, from_grpc, from_http
from modelyard.protocol.calls import Encoded, Result, decode, error_message
from modelyard.protocol.tensors import HEADER_LENGTH

LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=256)


def _http_error(url: str, exc: httpx.HTTPError) -> ModelyardError:
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return DeadlineExceeded(f"{url}: no reply within the call's deadline")
    return ServerUnreachable(f"{url}: {type(exc).__name__}: {exc or 'connection failed'}")


def _http_result(response: httpx.Response) -> Result:
    if response.status_code != 200:
        raise from_http(response.status_code, error_message(response.content))
    length = response.headers.get(HEADER_LENGTH)
    return decode(response.content, int(length) if length else None)


def _verify(tls: Tls | None) -> ssl.SSLContext | bool:
    return tls.ssl_context() if tls is not None else True  # https URLs verify against the system's CAs


class HttpTransport:
    def __init__(self, tls: Tls | None = None) -> None:
        self.client = httpx.Client(limits=LIMITS, trust_env=False, verify=_verify(tls))

    def infer(self, url: str, request: Encoded, timeout_s: float) -> Result:
        try:
            response = self.client.post(
                url + request.path, content=request.body, headers=request.headers, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            raise _http_error(url, exc) from None
        return _http_result(response)

    def close(self) -> None:
        self.client.close()


class AsyncHttpTransport:
    def __init__(self, tls: Tls | None = None) -> None:
        self.client = httpx.AsyncClient(limits=LIMITS, trust_env=False, verify=_verify(tls))

    async def infer(self, url: str, request: Encoded, timeout_s: float) -> Result:
        try:
            response = await self.client.post(
                url + request.path, content=request.body, headers=request.headers, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            raise _http_error(url, exc) from None
        return _http_result(response)

    async def close(self) -> None:
        await self.client.aclose()


def _grpc_error(url: str, exc: Any) -> ModelyardError:
    code, details = exc.code().name, exc.details() or ""
    if code == "UNAVAILABLE" and ("connect" in details.lower() or "socket" in details.lower()):
        return ServerUnreachable(f"{url}: {details}")
    if code == "DEADLINE_EXCEEDED":
        return DeadlineExceeded(f"{url}: no reply within the call's deadline")
    return from_grpc(code, details)


def _stub(channel: Any) -> Any:
    from modelyard.protocol.grpc.methods import method_stub

    return method_stub(channel, "ModelInfer")


def _channel(grpc_module: Any, url: str, tls: Tls | None) -> Any:
    """A channel to `url` (host:port), over TLS when the client was given `tls`."""
    if tls is None:
        return grpc_module.insecure_channel(url)
    return grpc_module.secure_channel(url, tls.grpc_credentials())


class GrpcTransport:
    def __init__(self, tls: Tls | None = None) -> None:
        self.channels: dict[str, tuple[Any, Any]] = {}
        self.tls = tls

    def infer(self, url: str, request: Any, timeout_s: float) -> Result:
        import grpc

        if url not in self.channels:
            channel = _channel(grpc, url, self.tls)
            self.channels[url] = (channel, _stub(channel))
        try:
            return _infer_result(self.channels[url][1](request, timeout=timeout_s))
        except grpc.RpcError as exc:
            raise _grpc_error(url, exc) from None

    def close(self) -> None:
        for channel, _ in self.channels.values():
            channel.close()


class AsyncGrpcTransport:
    def __init__(self, tls: Tls | None = None) -> None:
        self.channels: dict[str, tuple[Any, Any]] = {}
        self.tls = tls

    async def infer(self, url: str, request: Any, timeout_s: float) -> Result:
        import grpc

        if url not in self.channels:
            channel = _channel(grpc.aio, url, self.tls)
            self.channels[url] = (channel, _stub(channel))
        try:
            return _infer_result(await self.channels[url][1](request, timeout=timeout_s))
        except grpc.RpcError as exc:
            raise _grpc_error(url, exc) from None

    async def close(self) -> None:
        for channel, _ in self.channels.values():
            await channel.close()


def _infer_result(reply: Any) -> Result:
    from modelyard.protocol.grpc.convert import infer_result  # the generated modules load with the first gRPC call

    return infer_result(reply)
