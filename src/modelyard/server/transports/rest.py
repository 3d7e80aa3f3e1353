"""Open Inference Protocol V2 over HTTP as a plain ASGI app.

No web framework: the routes are few and fixed, and the infer path is the hot path, so it is a split of the URL
path and one dictionary lookup. The app only converts between HTTP and the data plane and maps errors
(`{"error": ...}` with the error class's status); the server never dies on bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from modelyard.errors import InvalidArgument, MethodNotAllowed, ModelyardError, NotFound, PayloadTooLarge
from modelyard.protocol import http, tensors
from modelyard.server.dataplane import DataPlane
from modelyard.server.repository.access import bearer

Scope = MutableMapping[str, Any]  # ASGI's types, as servers and httpx's ASGI transport declare them
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Lifespan = Callable[[], Awaitable[None]]

log = logging.getLogger("modelyard.server")

JSON = b"application/json"
BINARY = b"application/octet-stream"
HEADER_LENGTH = tensors.HEADER_LENGTH.lower().encode()


def repository_reference(name: str, body: bytes) -> str:
    """A repository call names a model in the path (`fraud`, `fraud@staging`); a version goes in the body's
    parameters, `{"parameters": {"version": "3"}}`, since a path segment cannot hold `fraud/3`."""
    if not body.strip():
        return name
    try:
        parameters = orjson.loads(body).get("parameters") or {}
        version = parameters.get("version")
    except (orjson.JSONDecodeError, AttributeError):
        raise InvalidArgument('body: expected a JSON object such as {"parameters": {"version": "3"}}') from None
    if version is None:
        return name
    if not str(version).isdigit() or "@" in name:
        raise InvalidArgument(f"parameters.version: expected a version number without an alias, got {version!r}")
    return f"{name}/{version}"


def _json(status: int, body: Any) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    return status, orjson.dumps(body), [(b"content-type", JSON)]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class RestApp:
    def __init__(
        self,
        dataplane: DataPlane,
        max_body_bytes: int = 64 << 20,
        on_startup: Lifespan | None = None,
        on_shutdown: Lifespan | None = None,
    ) -> None:
        self.dataplane = dataplane
        self.max_body_bytes = max_body_bytes
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self.on_startup:
                        await self.on_startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body, headers = await self._route(scope, receive)
        except ModelyardError as exc:
            status, body, headers = _json(exc.http_status, {"error": exc.message})
            if isinstance(exc, MethodNotAllowed):
                headers.append((b"allow", exc.allow.encode()))
        except Exception as exc:  # a bug of ours: answer, log, keep serving
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            status, body, headers = _json(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
        # A declared length: without it uvicorn frames the body in chunks, which every client must then decode.
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise PayloadTooLarge(f"the body of {int(declared)} bytes is over the limit of {self.max_body_bytes}")
        message = await receive()
        body = message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)
        chunks, size = [body], len(body)
        while message.get("more_body"):
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(f"the body is over the limit of {self.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _route(self, scope: Scope, receive: Receive) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        parts = scope["path"].strip("/").split("/")
        method = scope["method"]
        if parts[0] == "metrics" and len(parts) == 1:
            _allowed(method, scope, "GET")
            return 200, self.dataplane.metrics_text(), [(b"content-type", b"text/plain; version=0.0.4")]
        if parts[0] != "v2":
            raise NotFound(f"no route {scope['path']}")
        if len(parts) >= 3 and parts[1] == "models" and not (len(parts) == 3 and parts[2] == "stats"):
            return await self._model_route(scope, receive, method, parts[2], parts[3:])
        route = "/".join(parts[1:])
        if method == "GET":
            if route == "health/live":
                return _json(200, {"live": self.dataplane.live()})
            if route == "health/ready":
                ready = self.dataplane.ready()
                return _json(200 if ready else 503, {"ready": ready})
            if route == "":
                return _json(200, self.dataplane.server_metadata())
            if route == "models/stats":
                return _json(200, self.dataplane.model_stats())
        if method == "POST" and route == "repository/index":
            return _json(200, self.dataplane.repository_index())
        if method == "POST" and len(parts) == 5 and parts[1:3] == ["repository", "models"]:
            reference = repository_reference(parts[3], await self._read_body(scope, receive))
            if parts[4] == "load":
                versions = await self.dataplane.load(reference, bearer(_header(scope, b"authorization")))
                return _json(200, {"loaded": reference, "versions": versions})
            if parts[4] == "unload":
                versions = await self.dataplane.unload(reference, bearer(_header(scope, b"authorization")))
                return _json(200, {"unloaded": reference, "versions": versions})
        repository = len(parts) == 5 and parts[1:3] == ["repository", "models"] and parts[4] in ("load", "unload")
        _allowed(method, scope, "POST" if repository else SERVER_ROUTES.get(route))
        raise NotFound(f"no route {method} {scope['path']}")

    async def _model_route(
        self, scope: Scope, receive: Receive, method: str, name: str, rest: list[str]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        version = None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = rest[1], rest[2:]
        action = rest[0] if rest else ""
        if len(rest) > 1:
            raise NotFound(f"no route {method} {scope['path']}")
        if method == "POST" and action == "infer":
            return await self._infer(scope, receive, name, version)
        if method == "GET":
            if action == "":
                return _json(200, self.dataplane.model_metadata(name, version))
            if action == "ready":
                ready = self.dataplane.model_ready(name, version)
                return _json(200 if ready else 400, {"name": name, "ready": ready})
            if action == "config":
                return _json(200, self.dataplane.model_config(name, version))
            if action == "stats":
                return _json(200, self.dataplane.model_stats(name, version))
            if action == "drift":
                return _json(200, self.dataplane.model_drift(name, version))
        _allowed(method, scope, MODEL_ROUTES.get(action))
        raise NotFound(f"no route {method} {scope['path']}")

    async def _infer(
        self, scope: Scope, receive: Receive, name: str, version: str | None
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        self.dataplane.check_model(name, version)  # 404 before reading a large body
        body = await self._read_body(scope, receive)
        raw_length = _header(scope, HEADER_LENGTH)
        header_length = None
        if raw_length is not None:
            if not raw_length.strip().isdigit():
                raise InvalidArgument(
                    f"Inference-Header-Content-Length: {raw_length.decode(errors='replace')!r} is not a number"
                )
            header_length = int(raw_length)
        request = http.decode_request(body, header_length)
        del body  # a JSON body is dead weight while the request waits (binary inputs hold their own slices)
        # Looked up again: while the body arrived, an alias may have moved and the old version been unloaded.
        response = await self.dataplane.infer(name, version, request)
        payload, json_length = http.encode_response(response, request)
        if json_length is None:
            return 200, payload, [(b"content-type", JSON)]
        return 200, payload, [(b"content-type", BINARY), (HEADER_LENGTH, str(json_length).encode())]


SERVER_ROUTES = {
    "health/live": "GET",
    "health/ready": "GET",
    "": "GET",
    "models/stats": "GET",
    "repository/index": "POST",
}
MODEL_ROUTES = {"infer": "POST", "": "GET", "ready": "GET", "config": "GET", "stats": "GET", "drift": "GET"}


def _allowed(method: str, scope: Scope, allow: str | None) -> None:
    """A known route called with another method: 405 and `Allow`, not a 404 that says the route does not exist."""
    if allow is not None and method != allow:
        raise MethodNotAllowed(f"{method} {scope['path']}: this route takes {allow}", allow)
