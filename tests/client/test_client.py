"""The client against a real server: HTTP (binary and JSON) and gRPC, sync and async, and the errors it raises."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from modelyard.client import AsyncClient, Client
from modelyard.errors import (
    DeadlineExceeded,
    InvalidArgument,
    ModelyardError,
    NoServers,
    NotFound,
    ServerUnreachable,
    Unavailable,
)
from modelyard.registry import Registry, ServedVersion, ServerRecord
from modelyard.runtimes.onnx import OnnxRuntime
from modelyard.testing import Server, free_port

MIXED = {
    "a": np.arange(8, dtype=np.float32).reshape(2, 4),
    "ids": np.array([[1, 2], [3, -4]], dtype=np.int64),
    "names": np.array([[b"x"], ["βeta".encode()]], dtype=object),
}


def endpoint(server: Server, protocol: str) -> str:
    return server.url if protocol == "http" else f"127.0.0.1:{server.grpc_port}"


@pytest.mark.parametrize(("protocol", "binary"), [("http", True), ("http", False), ("grpc", True)])
def test_infer_matches_the_runtime(server: Server, models: Path, protocol: str, binary: bool) -> None:
    expected = OnnxRuntime(models / "mixed.onnx").predict(dict(MIXED))
    with Client(endpoint(server, protocol), protocol=protocol, binary=binary) as client:  # type: ignore[arg-type]
        got = client.infer("mixed", MIXED)
        result = client.infer_result("mixed", MIXED, version=1, outputs=["doubled"])
    assert set(got) == set(expected)
    np.testing.assert_allclose(got["total"], expected["total"])
    np.testing.assert_array_equal(got["doubled"], expected["doubled"])
    assert got["echo"].ravel().tolist() == [b"x", "βeta".encode()]
    assert (result.model_name, result.model_version, list(result.outputs)) == ("mixed", "1", ["doubled"])


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_async_client(server: Server, models: Path, protocol: str) -> None:
    x = np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32)
    expected = OnnxRuntime(models / "tabular.onnx").predict({"x": x})["y"]

    async def main() -> list[np.ndarray]:
        async with AsyncClient(endpoint(server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
            calls = [client.infer("tabular", {"x": x[i : i + 1]}) for i in range(4)]
            return [r["y"] for r in await asyncio.gather(*calls)]

    np.testing.assert_allclose(np.concatenate(asyncio.run(main())), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_errors_say_what_went_wrong(server: Server, protocol: str) -> None:
    with Client(endpoint(server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="'wrong': the model has no such input"):
            client.infer("tabular", {"wrong": np.ones((1, 32), np.float32)})
        with pytest.raises(NotFound, match="nothing"):
            client.infer("nothing", {"x": np.ones((1, 32), np.float32)})
        with pytest.raises(NotFound, match="alias"):
            client.infer("tabular@production", {"x": np.ones((1, 32), np.float32)})
        with pytest.raises(DeadlineExceeded):
            client.infer("tabular", {"x": np.ones((1, 32), np.float32)}, timeout_s=1e-6)


def test_unreachable_servers_are_retried_then_reported_with_every_attempt() -> None:
    dead = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    with Client(dead, timeout_s=5) as client, pytest.raises(ServerUnreachable) as raised:
        client.infer("tabular", {"x": np.ones((1, 32), np.float32)})
    message = str(raised.value)
    assert dead[0] in message
    assert dead[1] in message
    assert "attempt" in message
    # the tree: callers may catch the broad classes
    assert isinstance(raised.value, Unavailable)
    assert isinstance(raised.value, ModelyardError)


def test_one_unreachable_server_is_named_once_per_distinct_answer() -> None:
    """It read `http://...: http://...: ConnectError` (the transport and the attempt each named the URL), and the
    same answer again for each retry."""
    dead = f"http://127.0.0.1:{free_port()}"
    with Client(dead, timeout_s=5) as client, pytest.raises(ServerUnreachable) as raised:
        client.infer("tabular", {"x": np.ones((1, 32), np.float32)})
    message = str(raised.value)
    assert message.count(dead) == 1, message
    assert "attempt(s)" in message


def test_discovery_says_at_once_when_no_server_is_known_and_waits_for_one_starting(registry: Registry) -> None:
    looked: list[str] = []
    servers = registry.servers

    def counted(model: str | None = None, stale_after_s: float = 30.0) -> list[ServerRecord]:
        looked.append(str(model))
        return servers(model, stale_after_s)

    registry.servers = counted  # type: ignore[method-assign]
    x = {"x": np.ones((1, 32), np.float32)}
    with Client(registry=registry, timeout_s=30) as client, pytest.raises(NoServers, match="modelyard serve"):
        client.infer("fraud@production", x)  # it waited the whole 30 s for a server nobody started
    assert looked == ["fraud"]
    now = datetime.now(UTC)
    starting = ServerRecord(id="s1", http_url=f"http://127.0.0.1:{free_port()}", grpc_url="", host="h", pid=1,
                            models=(ServedVersion("fraud", "1", ("production",)),), ready=False, started_at=now,
                            heartbeat_at=now)  # fmt: skip
    registry.announce(starting)
    looked.clear()
    with Client(registry=registry, timeout_s=1.0) as client, pytest.raises(NoServers):
        client.infer("fraud@production", x)
    assert len(looked) > 1  # a server is starting: worth looking again until the deadline


def test_a_client_needs_somewhere_to_send() -> None:
    with pytest.raises(InvalidArgument, match="URLs or a registry"):
        Client()
    with pytest.raises(InvalidArgument, match="protocol"):
        Client("http://127.0.0.1:1", protocol="smtp")  # type: ignore[arg-type]
