"""The worker's side of a shadow: the candidate's process started, fed, watched and stopped.

The request path only appends the shadowed request to a list (`offer`); a few milliseconds later one pickle of
the whole list goes to the pipe (`_flush`), unless what the pipe has not yet taken exceeds `max_buffer_bytes`:
then the list is dropped and counted, and production never waits for its shadow. The candidate's statistics
come back a few times a second and are reported as the worker's own, under the candidate's version.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from modelyard import errors
from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse
from modelyard.server.models.source import ModelSource
from modelyard.server.repository.spec import TrafficLink
from modelyard.server.shadow.frames import frame, read_frame

log = logging.getLogger("modelyard.server")
FLUSH_S = 0.005  # a shadowed request waits at most this long in the worker: its batch gathers for 50 ms anyway
MAX_BUFFER_BYTES = 4 << 20  # what the pipe has not taken yet, past which shadowed requests are dropped
START_TIMEOUT_S = 300.0  # to load and warm up the version, at the worker's own priority
CLOSE_MARGIN_S = 30.0  # for its log to be written once its calls are done


Answer = tuple[str, InferResponse, int]  # production's: the name called, the response, its latency in ns
# What crosses for one shadowed request: a pickle of plain tuples, not of the protocol's dataclasses (6 µs a
# request with its answer, against 0.5).
Wire = tuple[str | None, dict[str, Any], list[tuple[str, str, tuple[int, ...], Any]],
             tuple[str, str, int, int, list[tuple[str, str, Any]]] | None]  # fmt: skip


def wire(request: InferRequest, answer: Answer | None, at_ns: int) -> Wire:
    inputs = [(i.name, i.datatype, i.shape, i.data) for i in request.inputs]
    if answer is None:
        return request.id, request.parameters, inputs, None
    called, response, latency_ns = answer
    outputs = [(o.name, o.datatype, o.data) for o in response.outputs]
    return request.id, request.parameters, inputs, (called, response.model_version, at_ns, latency_ns, outputs)


def unwire(message: Wire) -> tuple[InferRequest, tuple[str, InferResponse, int, int] | None]:
    """The request again, and production's answer (name called, response, time and latency in ns) if sent."""
    request_id, parameters, inputs, answer = message
    request = InferRequest([InferInput(*i) for i in inputs], request_id, None, parameters)
    if answer is None:
        return request, None
    called, version, at_ns, latency_ns, outputs = answer
    name = called.partition("@")[0]
    response = InferResponse(name, version, [InferOutput(*o) for o in outputs], request_id)
    return request, (called, response, at_ns, latency_ns)


class ShadowProcess:
    def __init__(self, source: ModelSource, traffic: TrafficLink, called: str, max_pending: int = 256,
                 max_buffer_bytes: int = MAX_BUFFER_BYTES, workers: int = 1) -> None:  # fmt: skip
        """`called`: the name the candidate's answers are logged under; `max_pending`: the candidate's calls
        waiting in its process, past which it drops them; `workers`: the server's, which share the cores out."""
        self.source, self.traffic, self.called, self.workers = source, traffic, called, workers
        self.max_pending, self.max_buffer_bytes = max_pending, max_buffer_bytes
        self.key = f"{source.name}/{source.version}"
        self.sent = 0
        self.dropped = 0  # here: the pipe was full, or the process gone
        self.stats: dict[str, Any] = {}  # the candidate's latest snapshot, from its process
        self.alive = False
        self._pending: list[tuple[InferRequest, Answer | None, int]] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self, drain_timeout_s: float) -> None:
        """Start the candidate's process and wait until it has loaded and warmed up the version; raises what
        loading it raised (the server does not start with a candidate it cannot run)."""
        self._process = process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "modelyard.server.shadow.child", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(frame((self.source, self.traffic, self.called, self.max_pending, drain_timeout_s,
                                   self.workers)))  # fmt: skip
        try:
            kind, detail = await asyncio.wait_for(read_frame(process.stdout), START_TIMEOUT_S)
        except asyncio.IncompleteReadError:
            kind, detail = "error", ("Unavailable", f"its process exited while starting (code {process.returncode})")
        except TimeoutError:
            kind, detail = (
                "error",
                ("Unavailable", f"its process did not load the version within {START_TIMEOUT_S:.0f} s"),
            )
        if kind != "ready":
            await self._stop_process(5.0)
            error, message = detail
            raise getattr(errors, error, errors.ModelyardError)(f"shadow {self.key}: {message}")
        self.stats = detail
        self.alive = True
        self._reader = asyncio.create_task(self._read(process.stdout))

    def offer(self, request: InferRequest, answer: Answer | None) -> None:
        """On the request path, after production answered: the candidate's call, sent within `FLUSH_S`, with
        production's answer for the candidate's process to log beside its own (None: logged already). Pickled at
        the flush, all together: a pickle a request cost 7 µs, one for 30 requests 2.5 µs a request."""
        if not self.alive:
            self.dropped += 1
            return
        if not self._pending:
            asyncio.get_running_loop().call_later(FLUSH_S, self._flush)
        self._pending.append((request, answer, time.time_ns()))

    def _flush(self) -> None:
        taken, self._pending = self._pending, []
        stdin = self._process.stdin if self._process is not None else None
        if not taken or stdin is None or stdin.is_closing() or not self.alive:
            self.dropped += len(taken)
            return
        if stdin.transport.get_write_buffer_size() > self.max_buffer_bytes:
            self.dropped += len(taken)  # the candidate is that far behind: what it has not read is stale already
            return
        try:
            data = frame([wire(request, answer, at_ns) for request, answer, at_ns in taken])
        except Exception:  # a parameter that does not pickle: those requests are not shadowed, production goes on
            log.exception("shadow %s: could not send %d request(s); dropped", self.key, len(taken))
            self.dropped += len(taken)
            return
        stdin.write(data)
        self.sent += len(taken)

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        """The candidate's statistics, until its process ends; an end nobody asked for is logged, and production
        goes on without its shadow."""
        while True:
            try:
                kind, detail = await read_frame(stdout)
            except Exception:  # the end of its output, or something that is not a frame: it is gone either way
                break
            if kind == "stats":
                self.stats = detail
        self.alive = False
        if not self._closing:
            code = await self._process.wait() if self._process is not None else None
            log.warning("shadow %s stopped: its process exited (code %s); production goes on without it", self.key,
                        code)  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """The candidate's statistics as the worker reports a version of its own (`ModelManager.snapshot`), with
        what the shadow sent and dropped on both sides."""
        entry = dict(self.stats)
        child = entry.pop("shadow", {})
        entry["shadow"] = {"sent": self.sent, "dropped": self.dropped + int(child.get("dropped", 0)),
                           "pending": int(child.get("pending", 0))}  # fmt: skip
        entry["loaded"] = int(self.alive)
        return entry

    async def close(self, timeout_s: float) -> None:
        """Send what is pending, then let the candidate finish its calls (it has `timeout_s`, from the end of its
        input) and write its log; killed if it takes `CLOSE_MARGIN_S` longer."""
        if self._process is None:
            return
        self._flush()
        self._closing = True
        await self._stop_process(timeout_s + CLOSE_MARGIN_S)
        if self._reader is not None:
            await self._reader
        self.alive = False

    async def _stop_process(self, timeout_s: float) -> None:
        process = self._process
        assert process is not None
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            log.warning("shadow %s did not stop within %.0f s: killed", self.key, timeout_s)
            process.kill()
            await process.wait()
