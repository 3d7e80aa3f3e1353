"""The candidate's side of a shadow: `python -m modelyard.server.shadow.child`, started by `ShadowProcess`.

Standard input brings what to load, then lists of shadowed requests until the worker closes it; standard output
carries back whether the version loaded, then its statistics a few times a second. Once the version is loaded
every thread of the process runs at the lowest priority (`process/priority.py`), and the threads it starts
later inherit it: when production wants the cores it gets them, and this process runs on what is left, or its
bounded queue drops. It logs both halves of each pair in a traffic log of its own:
production's answer as the worker sent it (unless the worker's own log sampled that request), and the
candidate's under the name the worker gave (`fraud@shadow`), both under the request's id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from modelyard.errors import ModelyardError
from modelyard.protocol.types import InferRequest
from modelyard.server.models.manager import public_error
from modelyard.server.models.served import ServedModel
from modelyard.server.process.priority import idle_process
from modelyard.server.shadow.frames import frame, read_frame
from modelyard.server.shadow.process import unwire
from modelyard.traffic import TrafficLog

log = logging.getLogger("modelyard.server")
REPORT_S = 0.25


class Calls:
    """The candidate's calls: at most `max_pending` waiting for their batch, the rest dropped and counted."""

    def __init__(self, model: ServedModel, traffic: TrafficLog, called: str, max_pending: int) -> None:
        self.model, self.traffic, self.called, self.max_pending = model, traffic, called, max_pending
        self.pending = 0
        self.dropped = 0

    def call(self, request: InferRequest) -> None:
        if self.pending >= self.max_pending:
            self.dropped += 1
            return
        start = time.perf_counter_ns()

        def done(error: BaseException | None) -> None:  # an answer is logged by the candidate's batch, an error here
            self.pending -= 1
            if error is not None:
                ns = time.perf_counter_ns() - start
                self.traffic.record(self.called, self.model.version, request, None, ns, error)

        self.pending += 1
        try:  # queued, nobody awaiting it: no task, no response built (`ServedModel.shadow`)
            self.model.shadow(request, self.called, done)
        except ModelyardError as exc:
            done(exc)

    def snapshot(self) -> dict[str, Any]:
        shadow = {"pending": self.pending, "dropped": self.dropped + self.traffic.dropped}
        return {**self.model.snapshot(), "shadow": shadow}


async def serve(out: IO[bytes]) -> int:
    def send(message: Any) -> None:
        out.write(frame(message))
        out.flush()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    source, link, called, max_pending, drain_timeout_s, workers = await read_frame(reader)
    try:
        model = ServedModel.load(source, workers)  # at the worker's priority: nothing else to do until it is loaded
    except Exception as exc:
        public = public_error(exc, source)
        send(("error", (type(public).__name__, public.message)))
        return 1
    idle_process()  # from here on, only cores production leaves idle (ONNX Runtime's threads too)
    traffic = link.open(worker=f"shadow{os.getpid()}", sampled=False)
    model.start(traffic)
    traffic.start()
    try:
        calls = Calls(model, traffic, called, max_pending)
        send(("ready", calls.snapshot()))
        await take(reader, calls, send)
        await model.drain(drain_timeout_s)
        send(("stats", calls.snapshot()))
    finally:
        model.close()
        await asyncio.to_thread(traffic.close)  # every pair taken is written, whatever stopped the loop
    return 0


async def take(reader: asyncio.StreamReader, calls: Calls, send: Callable[[Any], None]) -> None:
    """The worker's requests, until it closes the pipe; the statistics sent back every `REPORT_S`."""

    async def report() -> None:
        while True:
            await asyncio.sleep(REPORT_S)
            send(("stats", calls.snapshot()))

    reporting = asyncio.create_task(report())
    try:
        while True:
            try:
                requests = await read_frame(reader)
            except asyncio.IncompleteReadError:  # the worker is stopping (or gone)
                return
            for message in requests:
                request, answer = unwire(message)
                if answer is not None:  # production's half of the pair
                    called_by, response, at_ns, latency_ns = answer
                    calls.traffic.record(called_by, response.model_version, request, response, latency_ns,
                                         at_ns=at_ns)  # fmt: skip
                calls.call(request)
    finally:
        reporting.cancel()


def main() -> int:
    # The worker decides when this process stops (it closes the pipe); a Ctrl-C or a service manager's SIGTERM
    # sent to the whole group must not cut the log short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")  # the channel; whatever else prints goes to the server's log
    os.dup2(2, 1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(serve(out))


if __name__ == "__main__":
    sys.exit(main())
