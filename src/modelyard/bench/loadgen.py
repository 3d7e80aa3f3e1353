"""A load generator light enough not to be the bottleneck: raw HTTP/1.1 keep-alive on asyncio protocols (uvloop).

Each request's bytes are built once; a connection writes them, reads one response (status line, Content-Length,
body) and hands back the latency. No HTTP library sits on the path: httpx costs ~150 µs of CPU per call, this
costs ~15 µs, so on a 2-core machine the server, not the generator, runs out of CPU (its own cost per request
is measured and reported: `Sample.cpu_s`).

Closed loop: `concurrency` connections, each sending its next request when the last response arrives.
Open loop: Poisson arrivals at `rate` per second; latency counts from the scheduled send time, so a slow server
cannot hide its queueing by slowing the generator down (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from modelyard.bench.pacer import Pacer

T = TypeVar("T")


@dataclass
class Stop:
    """When the load stops (perf_counter seconds); the runner moves it once the measurement is stable."""

    at: float = float("inf")


@dataclass
class Recorder:
    """Completion times (monotonic s), latencies (s) and outcomes of every request, in arrival order."""

    done_at: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    sent_latency: list[float] = field(default_factory=list)  # open loop: from the actual send, as other tools count

    def add(self, done_at: float, latency: float, ok: bool, sent_latency: float | None = None) -> None:
        self.done_at.append(done_at)
        self.latency.append(latency)
        self.ok.append(ok)
        self.sent_latency.append(latency if sent_latency is None else sent_latency)


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, float]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        status = self._complete()
        if status is not None and self.waiter is not None and not self.waiter.done():
            # Timed here, as the last byte arrives: the task that awaits the reply resumes one loop turn later,
            # behind whatever else the loop has queued (sends due, other replies), and that wait is the
            # generator's, not the server's. (Measured against perf_analyzer, the difference was within noise.)
            self.waiter.set_result((status, time.perf_counter()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((0, time.perf_counter()))

    def _complete(self) -> int | None:
        """The status of the response in the buffer once it is whole (and drop it from the buffer)."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower()
        if b"transfer-encoding: chunked" in head:  # servers that stream: the body ends with an empty chunk
            last = self.buffer.find(b"\r\n0\r\n\r\n", end)
            if last < 0:
                return None
            size = last + 7 - end - 4
        else:
            size = _content_length(head)
        if len(self.buffer) < end + 4 + size:
            return None
        del self.buffer[: end + 4 + size]
        return int(head[9:12])

    async def request(self, payload: bytes) -> tuple[int, float]:
        """The response's status and when it was complete (perf_counter s); status 0 when the connection is gone
        (counted as an error, never raised)."""
        if self.lost or self.transport is None or self.transport.is_closing():
            return 0, time.perf_counter()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter


def http_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Target:
    host: str
    port: int
    payload: bytes  # the whole request, built once

    async def connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Connection, self.host, self.port)
        return protocol


async def closed_loop(target: Target, concurrency: int, stop: Stop, recorder: Recorder) -> None:
    async def user() -> None:
        conn = await target.connect()
        clock = time.perf_counter
        while clock() < stop.at:
            start = clock()
            status, done = await conn.request(target.payload)
            recorder.add(done, done - start, status == 200)
            if conn.lost:
                conn = await target.connect()
        if conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(user() for _ in range(concurrency)))


async def open_loop(target: Target, rate: float, stop: Stop, recorder: Recorder, rng: random.Random) -> None:
    """Poisson arrivals; each request takes an idle connection or opens one (at most 1,024 open)."""
    idle: list[_Connection] = []
    tasks: set[asyncio.Task[None]] = set()
    clock = time.perf_counter

    async def one(scheduled: float) -> None:
        while idle and idle[-1].lost:  # the server closed it while it was idle (keep-alive timeout)
            idle.pop()
        conn = idle.pop() if idle else await target.connect()
        sent = clock()
        status, done = await conn.request(target.payload)
        recorder.add(done, done - scheduled, status == 200, done - sent)
        if not conn.lost:
            idle.append(conn)

    next_at = clock()
    with Pacer(clock) as pacer:  # asyncio.sleep would send sub-millisecond gaps at once (see pacer.py)
        while next_at < stop.at:
            await pacer.until(next_at)
            if len(tasks) < 1024:
                task = asyncio.create_task(one(next_at))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            else:
                recorder.add(clock(), 0.0, False)  # the generator's own limit: counted as an error, not hidden
            next_at += rng.expovariate(rate)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    for conn in idle:
        if conn.transport is not None:
            conn.transport.close()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed (the server's loop too)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _content_length(head: bytes) -> int:
    """From a lower-cased head; the header must start a line (`inference-header-content-length` also ends in it)."""
    start = head.find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    end = head.find(b"\r\n", start + 2)
    return int(head[start + 17 : end if end >= 0 else len(head)])
