"""One write per response (the head waits for the body, never past the loop's current step), and the limits on a
request's head: its size, its time, the connections a worker holds."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.server.transports.uvicorn_protocol import HeldHead
from modelyard.testing import Server, start_server, stop_server, wait_until


class Recorded(asyncio.Transport):
    """What reached the connection, call by call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, list_of_data: object) -> None:
        self.calls.append(("writelines", b"".join(list_of_data)))  # type: ignore[arg-type]

    def close(self) -> None:
        self.calls.append(("close", b""))

    def is_closing(self) -> bool:
        return False


async def a_response(*writes: bytes, close: bool = False) -> list[tuple[str, bytes]]:
    transport = Recorded()
    held = HeldHead(transport, asyncio.get_running_loop())
    for data in writes:
        held.write(data)
    if close:
        held.close()
    await asyncio.sleep(0)  # the end of this step of the loop
    await asyncio.sleep(0)
    return transport.calls


def test_head_and_body_leave_together() -> None:
    calls = asyncio.run(a_response(b"HTTP/1.1 200 OK\r\n\r\n", b"{}"))
    assert calls == [("writelines", b"HTTP/1.1 200 OK\r\n\r\n{}")]


def test_a_head_without_a_body_leaves_when_the_step_ends() -> None:
    head = b"HTTP/1.1 204 No Content\r\n\r\n"
    assert asyncio.run(a_response(head)) == [("write", head)]


def test_later_writes_and_close_keep_their_order() -> None:
    calls = asyncio.run(a_response(b"head", b"chunk 1", b"chunk 2"))
    assert calls == [("writelines", b"headchunk 1"), ("write", b"chunk 2")]
    assert asyncio.run(a_response(b"head", close=True)) == [("write", b"head"), ("close", b"")]


def test_the_server_answers_with_and_without_a_body(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as client:  # one keep-alive connection for all three
        assert client.get("/v2/health/ready").status_code == 200
        assert client.head("/v2/health/ready").status_code in (200, 404, 405)  # a head with no body after it
        assert client.get("/v2").json()["name"] == "modelyard"


@pytest.fixture(scope="module")
def limited(model_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"MODELYARD_SERVER__HEADER_TIMEOUT_S": "1", "MODELYARD_SERVER__MAX_CONNECTIONS": "4",
           "MODELYARD_SERVER__MAX_HEADER_KB": "16"}  # fmt: skip
    home = tmp_path_factory.mktemp("limited")
    running = start_server([str(model_folder / "tabular"), "--grpc-port", "0"], home, env=env)
    yield running
    stop_server(running)


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket's timeout)."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


@pytest.mark.e2e
def test_a_head_over_the_limit_is_answered_431_and_costs_no_memory(limited: Server) -> None:
    """A 64 MiB header line used to return 200 and cost 57 MiB per connection."""
    before = limited.rss_mib()
    for _ in range(4):
        with connect(limited) as sock:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 << 20))
            reply = answer(sock)
        assert reply.startswith(b"HTTP/1.1 431 ")
        assert b'"error":"the request\'s head is over the limit of 16384 bytes"' in reply
    assert limited.rss_mib() - before < 32
    assert httpx.get(f"{limited.url}/v2/health/ready").status_code == 200


@pytest.mark.e2e
def test_a_slow_head_gets_408_and_an_idle_socket_is_closed(limited: Server) -> None:
    with connect(limited) as idle, connect(limited) as slow:
        slow.sendall(b"GET /v2 HTTP/1.1\r\nHost: x\r\n")  # and the rest never comes
        assert answer(idle) == b""  # closed after the head timeout, without a word
        assert answer(slow).startswith(b"HTTP/1.1 408 ")
    with httpx.Client(base_url=limited.url, timeout=5) as client:  # a kept-alive connection in use stays open
        assert client.get("/v2").status_code == 200
        assert client.get("/v2").status_code == 200


@pytest.mark.e2e
def test_past_the_connection_limit_requests_get_503_not_silence(limited: Server) -> None:
    held = [connect(limited) for _ in range(4)]
    try:
        r = httpx.get(f"{limited.url}/v2/health/ready", timeout=5)
        assert r.status_code == 503
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: httpx.get(f"{limited.url}/v2/health/ready", timeout=5).status_code == 200, 10)
