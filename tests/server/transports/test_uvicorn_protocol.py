"""One write per response: the head waits for the body, and never for longer than the loop's current step."""

from __future__ import annotations

import asyncio

import httpx

from modelyard.server.transports.uvicorn_protocol import HeldHead
from modelyard.testing import Server


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
