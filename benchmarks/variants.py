"""One server per variant of the command line, loaded in turn by wrk, round after round, in one run: what a
feature costs is the ratio of medians to the variant without it (benchmarks/tls.py, benchmarks/traffic.py).

On a shared 2-core machine single runs vary by a third; alternating the variants within each round and taking
medians over rounds keeps the machine's drift out of the ratios. Two more biases were measured on a slower VM
(2026-12-04, two identical servers without the feature, 8 rounds): the server loaded first in every round read
1.12x the throughput of its twin loaded last; rotated, the twins still read 1.09x apart for a whole run (a server
keeps its own luck, where its threads and memory landed). So the order rotates each round, and `replicas` servers
run each variant, their rounds pooled.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from modelyard import examples
from modelyard.client import Tls
from modelyard.testing import Server, start_server, stop_server
from server import LUA, bodies, wrk  # benchmarks/server.py: the same load and bodies

Variant = tuple[list[str], Tls | None]  # extra `serve` arguments, and how to reach it


def w1(work: Path, body: str) -> tuple[list[str], Path, str]:
    """The W1 MLP as a model file, and a request body for it (json or binary)."""
    model = examples.mlp_onnx(work / "tabular.onnx")
    x = np.random.default_rng(0).standard_normal((1, 32)).astype(np.float32)
    path, header_length = bodies(work, "tabular", x)[body]
    return [str(model), "--name", "tabular", "--grpc-port", "0"], path, header_length


def compare(
    variants: dict[str, Variant],
    work: Path,
    body: str = "binary",
    concurrencies: tuple[int, ...] = (1, 16),
    rounds: int = 3,
    duration_s: float = 3.0,
    lua_extra: str = "",
    served: list[str] | None = None,
    home: Path | None = None,
    replicas: int = 1,
    rate: float | None = None,
) -> dict[tuple[str, int], list[tuple[float, float, float]]]:
    """(variant, concurrency) -> [(requests/s, p50 ms, p99 ms, CPU µs a request) per round and replica]; prints
    each as it comes. `served`: what `serve` takes instead of the W1 file (`tabular@production` in `home`'s registry).
    `rate`: Poisson arrivals at that many requests a second (`paced`) instead of wrk's closed loop, keyed as
    concurrency 0: the latency a caller sees when the server has room, where a closed loop measures a queue."""
    base, path, header_length = w1(work, body)
    if served is not None:
        base = [*served, "--grpc-port", "0"]
    lua = work / "load.lua"
    lua.write_text(LUA + lua_extra)
    servers: list[tuple[str, Server]] = []
    results: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
    try:
        for replica in range(replicas):
            for name, (extra, tls) in variants.items():
                servers.append((name, start_server([*base, *extra], home or work / f"home-{name}-{replica}", tls=tls)))
        for number in range(1, rounds + 1):
            turn = (number - 1) % len(servers)
            for conc in concurrencies if rate is None else (0,):
                for name, server in servers[turn:] + servers[:turn]:
                    url = f"{server.url}/v2/models/tabular/infer"
                    wrk(url, lua, path, header_length, conc or 16, 1)  # warm the connections and the model
                    before = cpu_seconds(server.process.pid)
                    if rate is None:
                        r = wrk(url, lua, path, header_length, conc, duration_s)
                    else:
                        r = paced(server.url, rate, duration_s)
                    cpu_us = (cpu_seconds(server.process.pid) - before) / max(1, r["requests"]) * 1e6
                    rps, p50, p99 = r["requests"] / (r["duration_us"] / 1e6), r["p50_us"] / 1000, r["p99_us"] / 1000
                    results.setdefault((name, conc), []).append((rps, p50, p99, cpu_us))
                    load = f"c={conc}" if rate is None else f"{rate:g}/s"
                    print(f"round {number} {load:<6} {name:<10} {rps:9,.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} "
                          f"ms  {cpu_us:.1f} µs CPU a request", flush=True)  # fmt: skip
    finally:
        for _, server in servers:
            stop_server(server)
    return results


def paced(url: str, rate: float, seconds: float) -> dict[str, float]:
    """Open-loop W1 load from `modelyard bench`'s generator, in wrk's terms: requests, µs, p50 and p99 µs (from
    each request's scheduled send, so a stalled server cannot hide its queue)."""
    import random

    from modelyard.bench import loadgen
    from modelyard.bench.runner import target_for

    x = np.random.default_rng(0).standard_normal((1, 32)).astype(np.float32)
    target, recorder = target_for(url, "tabular", {"x": x}), loadgen.Recorder()
    start = time.perf_counter()
    stop = loadgen.Stop(start + seconds)
    loadgen.run(loadgen.open_loop(target, rate, stop, recorder, random.Random(0)))
    ok = [latency for latency, good in zip(recorder.latency, recorder.ok, strict=True) if good]
    p50, p99 = (float(np.percentile(ok, q)) for q in (50, 99)) if ok else (float("nan"), float("nan"))
    return {"requests": len(ok), "duration_us": (time.perf_counter() - start) * 1e6, "p50_us": p50 * 1e6,
            "p99_us": p99 * 1e6}  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """The server's CPU time so far, its worker processes included: what a request costs, whatever else the
    machine did meanwhile (throughput on this VM moved by a fifth from run to run; CPU a request by much less)."""
    import psutil

    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def ratios(results: dict[tuple[str, int], list[tuple[float, float, float, float]]], baseline: str) -> None:
    """Each variant against `baseline`: throughput, p50, p99 and CPU a request, the ratio of medians over the
    rounds, and for throughput and p99 a 95 % interval of the median of paired ratios (each measurement against one of
    the baseline's in the same round: each variant runs `replicas` servers a round), bootstrapped. It says
    whether a run resolves a target: on this VM one run's spread was as wide as the 3 % asked of the traffic log
    (docs/measurements.md)."""
    names = list(dict.fromkeys(name for name, _ in results))
    concurrencies = sorted({conc for _, conc in results})
    for conc in concurrencies:
        base = [statistics.median(v) for v in zip(*results[(baseline, conc)], strict=True)]
        for name in names:
            if name == baseline:
                continue
            got = [statistics.median(v) for v in zip(*results[(name, conc)], strict=True)]
            paired = np.array(results[(name, conc)]) / np.array(results[(baseline, conc)])
            (t_low, t_high), (p_low, p_high) = interval(paired[:, 0]), interval(paired[:, 2])
            print(f"  c={conc:<3} {name} / {baseline}: throughput {got[0] / base[0]:.3f}x [{t_low:.3f}, "
                  f"{t_high:.3f}]   p50 {got[1] / base[1]:.2f}x   p99 {got[2] / base[2]:.2f}x [{p_low:.2f}, "
                  f"{p_high:.2f}]   CPU a request {got[3] / base[3]:.3f}x")  # fmt: skip


def interval(values: np.ndarray, resamples: int = 4000) -> tuple[float, float]:
    """A 95 % bootstrap interval of the median of `values` (seeded: the same run prints the same interval)."""
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(values, size=(resamples, len(values))), axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))
