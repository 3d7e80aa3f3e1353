"""uvicorn's httptools protocol, sending each response in one write, and bounding each request's head.

uvicorn writes a response in two calls: the status line and headers on `http.response.start`, the body on
`http.response.body`. On uvloop each write is a `send` syscall at once, and with TCP_NODELAY a packet of its own;
profiling one worker at W1 c=64 put 15 % of its samples in those two writes. Here a response's transport holds its
first write (the head) until the body comes, in the same step of the loop, and sends both with one `writelines`
(one `writev`). A head with no body after it (HEAD, 204, a streaming response's first chunk later) leaves when the
loop's current step ends.

A request's head (request line and headers) gets `max_head_bytes` and `head_timeout_s`, from the connection's start
or the end of the previous response: httptools buffers a header line whole, so one 64 MiB line cost 57 MiB, and a
socket that never sent a head stayed open for good (1,100 of them starved a server of file descriptors). Past
either limit the connection is answered (431, 408) and closed; an idle one is closed without a word.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class OneWriteProtocol(HttpToolsProtocol):
    # Set by the worker from its spec before it serves (worker_app.create_app); these are the settings' defaults.
    max_head_bytes: ClassVar[int] = 64 << 10
    head_timeout_s: ClassVar[float] = 10.0
    # One sweep a worker, not a timer a request: a uvloop timer armed and cancelled costs 3-4 µs, a clock read
    # 0.1 µs. A head past its time is found within a sweep's period.
    _sweeping: ClassVar[asyncio.TimerHandle | None] = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._head_since: float | None = None
        self._expect_head()
        if OneWriteProtocol._sweeping is None:
            self._sweep()

    def _expect_head(self) -> None:
        self._head_bytes = 0
        self._head_since = self.loop.time()

    def _head_done(self) -> None:
        self._head_since = None

    def _sweep(self) -> None:
        """Every `period`, answer or close the connections whose head has waited longer than `head_timeout_s`."""
        now, limit = self.loop.time(), self.head_timeout_s
        for connection in list(self.connections):
            if not isinstance(connection, OneWriteProtocol):
                continue
            since = connection._head_since
            if since is not None and now - since >= limit:
                connection._head_timed_out()
        period = min(1.0, limit / 4)
        OneWriteProtocol._sweeping = self.loop.call_later(period, self._sweep) if self.connections else None

    def data_received(self, data: bytes) -> None:
        waiting = self._head_since is not None
        if waiting:
            self._head_bytes += len(data)
        super().data_received(data)
        if waiting and self._head_since is not None and self._head_bytes > self.max_head_bytes:
            self._refuse(431, f"the request's head is over the limit of {self.max_head_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._head_done()
        super().on_headers_complete()
        self.cycle.transport = HeldHead(self.transport, self.loop)  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._expect_head()  # the next request's head, on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_done()
        if self._head_bytes:
            self._refuse(408, f"the request's head did not arrive within {self.head_timeout_s:g} s")
        elif not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        self._head_done()
        if self.transport.is_closing():
            return
        body = orjson.dumps({"error": message})
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, REASONS[status], len(body))
            + body
        )
        self.transport.close()


class HeldHead:
    """One response's view of the connection's transport."""

    __slots__ = ("_head", "_loop", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.writelines((head, data))
        elif not self._started:
            self._started = True
            self._head = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
