"""uvicorn's httptools protocol, sending each response in one write.

uvicorn writes a response in two calls: the status line and headers on `http.response.start`, the body on
`http.response.body`. On uvloop each write is a `send` syscall at once, and with TCP_NODELAY a packet of its own;
profiling one worker at W1 c=64 put 15 % of its samples in those two writes. Here a response's transport holds its
first write (the head) until the body comes, in the same step of the loop, and sends both with one `writelines`
(one `writev`). A head with no body after it (HEAD, 204, a streaming response's first chunk later) leaves when the
loop's current step ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class OneWriteProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.cycle.transport = HeldHead(self.transport, self.loop)  # type: ignore[assignment]


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
