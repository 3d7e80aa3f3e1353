"""One measured load level: warm up, then windows until three agree within 10 % (or the most allowed), with the
server's own figures for the same interval."""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import numpy as np

from modelyard.bench.loadgen import Recorder, Stop, Target, closed_loop, http_request, open_loop, run
from modelyard.bench.probe import ServerSide, gpu, scrape, server_side
from modelyard.bench.stats import Summary, Windows, stable, summarize, windows_until_stable
from modelyard.datatypes import to_numpy
from modelyard.errors import InvalidArgument, NotFound
from modelyard.protocol.calls import encode, model_path

Mode = Literal["closed", "open"]


@dataclass(frozen=True)
class Level:
    mode: Mode
    load: float  # connections (closed loop) or requests per second (open loop)
    summary: Summary
    windows: list[float]
    stable: bool
    generator_us: float  # the generator's own CPU time per request
    server: ServerSide | None
    gpu: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def example_inputs(url: str, model: str, rows: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the model's signature, read from the server's metadata; variable axes get `rows`."""
    response = httpx.get(f"{url}/v2/models/{model}", timeout=10, trust_env=False)
    if response.status_code == 404:
        raise NotFound(f"{url} does not serve {model!r}")
    response.raise_for_status()
    rng = np.random.default_rng(seed)
    inputs = {}
    for spec in response.json()["inputs"]:
        shape = [rows if d < 0 else d for d in spec["shape"]]
        if spec["datatype"] == "BYTES":
            inputs[spec["name"]] = np.full(shape, b"x", dtype=object)
        else:
            inputs[spec["name"]] = rng.standard_normal(shape).astype(to_numpy(spec["datatype"]))
    return inputs


def target_for(url: str, model: str, inputs: dict[str, np.ndarray], binary: bool = True) -> Target:
    parsed = httpx.URL(url)
    if parsed.scheme != "http" or parsed.host is None:
        raise InvalidArgument(f"--url: expected http://host:port, got {url!r}")
    port = parsed.port or 80
    request = encode(inputs, binary=binary, path=model_path(model))
    return Target(parsed.host, port, http_request(parsed.host, port, request.path, request.body, request.headers))


def measure(
    target: Target,
    url: str,
    model: str,
    mode: Mode,
    load: float,
    windows: Windows = Windows(),
    on_window: Callable[[int], None] | None = None,
    server_metrics: bool = True,
) -> Level:
    gc.collect()
    gc.disable()  # a collection pausing the generator would show as server latency
    try:
        return run(_measure(target, url, model, mode, load, windows, on_window, server_metrics))
    finally:
        gc.enable()


async def read_server(url: str, model: str) -> tuple[dict[str, float], float]:
    """The server's counters and when they were read (the middle of the call): its CPU is divided by the time
    between two reads, which is not the measured windows' span (the reads lie outside it)."""
    sent = time.perf_counter()
    figures = await asyncio.to_thread(scrape, url, model)
    return figures, (sent + time.perf_counter()) / 2


async def _measure(
    target: Target,
    url: str,
    model: str,
    mode: Mode,
    load: float,
    w: Windows,
    on_window: Callable[[int], None] | None,
    server_metrics: bool,
) -> Level:
    recorder, stop = Recorder(), Stop()
    if mode == "closed":
        generator = closed_loop(target, int(load), stop, recorder)
    else:
        generator = open_loop(target, load, stop, recorder, random.Random(0))
    task = asyncio.create_task(generator)
    await asyncio.sleep(w.warmup_s)
    before = await read_server(url, model) if server_metrics else None
    start, cpu_start = time.perf_counter(), time.process_time()

    def window_closed(rates: list[float]) -> None:
        if task.done():
            task.result()  # the generator failed (the server went away): raise its error
        if on_window:
            on_window(len(rates))

    rates = await windows_until_stable(recorder.done_at, start, w, time.perf_counter, asyncio.sleep, window_closed)
    end = start + len(rates) * w.window_s
    cpu = time.process_time() - cpu_start
    stop.at = time.perf_counter()
    after = await read_server(url, model) if server_metrics else None
    await task
    summary = summarize(recorder.done_at, recorder.latency, recorder.ok, start, end)
    from_send = summarize(recorder.done_at, recorder.sent_latency, recorder.ok, start, end)
    return Level(
        mode=mode,
        load=load,
        summary=summary,
        windows=rates,
        stable=stable(rates),
        generator_us=1e6 * cpu / summary.requests if summary.requests else 0.0,
        server=server_side(before[0], after[0], after[1] - before[1]) if before and after else None,
        gpu=gpu(),
        # Open loop: latency from the scheduled arrival (the summary) and, for comparison with tools that count
        # from the moment they send (perf_analyzer), from the send.
        extra={"p50_from_send_ms": from_send.p50_ms, "p99_from_send_ms": from_send.p99_ms},
    )
