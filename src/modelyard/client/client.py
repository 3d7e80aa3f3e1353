"""`Client` and `AsyncClient`: call a model by reference on one or several servers, or on the servers the registry
knows, with least-outstanding balancing, retries within a deadline, and circuit breaking.

    client = Client("http://127.0.0.1:8000")
    client.infer("fraud@production", {"x": array})        # {"y": array}

    client = Client(registry=Registry.from_settings())    # discovery: live, ready servers of each model
    client = Client("https://host:8000", tls=Tls(ca="ca.pem"))  # a server started with --tls-cert/--tls-key

Both share everything but the I/O and the sleeping: endpoint choice and retry decisions (`policy.py`), request
building and reply parsing (`modelyard.protocol.calls`), and endpoint discovery (`_Endpoints`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from modelyard.client.policy import Attempts, Balancer, RetryPolicy
from modelyard.client.tls import Tls
from modelyard.client.transports import (
    AsyncGrpcTransport,
    AsyncHttpTransport,
    GrpcTransport,
    HttpTransport,
)
from modelyard.errors import InvalidArgument, ModelyardError
from modelyard.protocol.calls import Result, encode, model_path
from modelyard.uri import parse_ref

if TYPE_CHECKING:
    from modelyard.registry import Registry

Protocol = Literal["http", "grpc"]
DISCOVERY_RETRY_S = 0.2  # while the registry lists no ready server for a model
Inputs = Mapping[str, Any]


class _Endpoints:
    """Where a model is served: fixed URLs, or the registry's live servers, looked up again every `refresh_s`."""

    def __init__(
        self,
        urls: list[str],
        registry: Registry | None,
        protocol: Protocol,
        policy: RetryPolicy,
        refresh_s: float,
        stale_after_s: float,
    ) -> None:
        if not urls and registry is None:
            raise InvalidArgument("Client: give server URLs or a registry to discover them")
        self.registry = registry
        self.protocol = protocol
        self.policy = policy
        self.refresh_s = refresh_s
        self.stale_after_s = stale_after_s
        self.fixed = Balancer([u.rstrip("/") for u in urls], policy) if urls else None
        self.found: dict[str, tuple[float, Balancer]] = {}
        self.starting: set[str] = set()  # models with a live server not ready yet: worth waiting for

    def cached(self, model: str, now: float) -> Balancer | None:
        if self.fixed is not None:
            return self.fixed
        entry = self.found.get(_name(model))
        return entry[1] if entry and now - entry[0] < self.refresh_s else None

    def worth_waiting(self, model: str) -> bool:
        """A server of the model is starting: its entry turns ready shortly. With none at all, waiting for the
        whole deadline only delays NoServers."""
        return _name(model) in self.starting

    def discover(self, model: str, now: float) -> Balancer:
        assert self.registry is not None
        servers = self.registry.servers(_name(model), stale_after_s=self.stale_after_s)
        urls = [s.http_url if self.protocol == "http" else s.grpc_url for s in servers if s.ready]
        name = _name(model)
        if any(not s.ready for s in servers):
            self.starting.add(name)
        else:
            self.starting.discard(name)
        balancer = self.found[name][1] if name in self.found else Balancer([], self.policy)
        balancer.update([u for u in urls if u])
        self.found[name] = (now, balancer)
        return balancer


def _name(model: str) -> str:
    return parse_ref(model).name


class _BaseClient:
    def __init__(
        self,
        url: str | Sequence[str] | None = None,
        *,
        registry: Registry | None = None,
        protocol: Protocol = "http",
        timeout_s: float = 10.0,
        binary: bool = True,
        retry: RetryPolicy | None = None,
        refresh_s: float = 5.0,
        stale_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        tls: Tls | None = None,
    ) -> None:
        if protocol not in ("http", "grpc"):
            raise InvalidArgument(f"protocol: expected 'http' or 'grpc', got {protocol!r}")
        urls = [url] if isinstance(url, str) else list(url or [])
        self.protocol = protocol
        self.tls = tls
        self.timeout_s = timeout_s
        self.binary = binary
        self.policy = retry or RetryPolicy()
        self.endpoints = _Endpoints(urls, registry, protocol, self.policy, refresh_s, stale_after_s)
        self.clock = clock
        self.rng = rng or random.Random()

    def _prepare(self, model: str, version: str | int | None, inputs: Inputs, outputs: Sequence[str] | None) -> Any:
        """The request, built once for every attempt of a call."""
        v = None if version is None else str(version)
        if self.protocol == "grpc":
            from modelyard.protocol.grpc.convert import infer_request  # protobuf loads with the first gRPC call

            return infer_request(model, v, inputs, outputs)
        return encode(inputs, outputs, self.binary, path=model_path(model, v))

    def _wait_for_servers(self, model: str, attempts: Attempts) -> bool:
        if attempts.balancer.endpoints or self.clock() + DISCOVERY_RETRY_S >= attempts.deadline:
            return False
        return self.endpoints.worth_waiting(model)

    def _attempts(self, model: str, balancer: Balancer, timeout_s: float | None) -> Attempts:
        deadline = self.clock() + (timeout_s if timeout_s is not None else self.timeout_s)
        return Attempts(balancer, self.policy, deadline, model, self.rng)


class Client(_BaseClient):
    __doc__ = __doc__

    def __init__(self, url: str | Sequence[str] | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        self._transport: HttpTransport | GrpcTransport = (
            HttpTransport(self.tls) if self.protocol == "http" else GrpcTransport(self.tls)
        )

    def infer(
        self,
        model: str,
        inputs: Inputs,
        *,
        version: str | int | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Outputs by name. `model`: `fraud`, `fraud@production`, `fraud/3`; `timeout_s`: the deadline of the
        whole call, retries included."""
        return self.infer_result(model, inputs, version=version, outputs=outputs, timeout_s=timeout_s).outputs

    def infer_result(
        self,
        model: str,
        inputs: Inputs,
        *,
        version: str | int | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> Result:
        """As `infer`, with the name and version of the model that answered."""
        request = self._prepare(model, version, inputs, outputs)
        attempts = self._attempts(model, self._balancer(model), timeout_s)
        while self._wait_for_servers(model, attempts):
            time.sleep(DISCOVERY_RETRY_S)  # a server may be starting: its registry entry turns ready shortly
            attempts.balancer = self.endpoints.discover(model, self.clock())
        while True:
            endpoint = attempts.next(self.clock())
            try:
                result = self._transport.infer(endpoint.url, request, attempts.remaining(self.clock()))
            except ModelyardError as exc:
                time.sleep(attempts.failed(endpoint, exc, self.clock()))
                continue
            attempts.succeeded(endpoint, self.clock())
            return result

    def _balancer(self, model: str) -> Balancer:
        now = self.clock()
        return self.endpoints.cached(model, now) or self.endpoints.discover(model, now)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """`Client` for asyncio: the same options, choices and errors; `await client.infer(...)`."""

    def __init__(self, url: str | Sequence[str] | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        self._transport: AsyncHttpTransport | AsyncGrpcTransport = (
            AsyncHttpTransport(self.tls) if self.protocol == "http" else AsyncGrpcTransport(self.tls)
        )

    async def infer(
        self,
        model: str,
        inputs: Inputs,
        *,
        version: str | int | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        result = await self.infer_result(model, inputs, version=version, outputs=outputs, timeout_s=timeout_s)
        return result.outputs

    async def infer_result(
        self,
        model: str,
        inputs: Inputs,
        *,
        version: str | int | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> Result:
        request = self._prepare(model, version, inputs, outputs)
        attempts = self._attempts(model, await self._balancer(model), timeout_s)
        while self._wait_for_servers(model, attempts):
            await asyncio.sleep(DISCOVERY_RETRY_S)
            attempts.balancer = await asyncio.to_thread(self.endpoints.discover, model, self.clock())
        while True:
            endpoint = attempts.next(self.clock())
            try:
                result = await self._transport.infer(endpoint.url, request, attempts.remaining(self.clock()))
            except ModelyardError as exc:
                await asyncio.sleep(attempts.failed(endpoint, exc, self.clock()))
                continue
            attempts.succeeded(endpoint, self.clock())
            return result

    async def _balancer(self, model: str) -> Balancer:
        now = self.clock()
        cached = self.endpoints.cached(model, now)
        if cached is not None:
            return cached
        # The registry is a blocking database client: keep it off the event loop.
        return await asyncio.to_thread(self.endpoints.discover, model, now)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
