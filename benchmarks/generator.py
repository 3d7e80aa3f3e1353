"""Is `modelyard bench` measuring the server, not itself? Two checks, printed as ratios.

1. Saturation: the peer harness's FastAPI server (../shared/bench, W1) driven by wrk and by modelyard's generator at
   the same concurrency. A ratio near 1.00 means the generator reaches what wrk reaches: the server is the limit.
   The generator's own CPU per request is printed too.
2. Agreement: a modelyard server (W1, 2 workers, binary tensors) measured by perf_analyzer and by `modelyard bench`
   at the same concurrency (closed loop) and the same Poisson request rate (open loop), with each generator's own
   CPU per request: on a 2-core machine a closed loop measures the generator as much as the server.

    .venv/bin/pip install fastapi      # the FastAPI row only
    .venv/bin/python benchmarks/generator.py [--conc 16,64]

perf_analyzer comes with tritonclient; it needs libb64-0d (apt) and libcudart (pip nvidia-cuda-runtime-cu12, no GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from modelyard import examples
from modelyard.bench.loadgen import Target, http_request
from modelyard.bench.runner import Windows, example_inputs, measure, target_for
from modelyard.testing import free_port, start_server, stop_server

HARNESS = Path(__file__).resolve().parents[1].parent / "shared" / "bench"
WINDOWS = Windows(warmup_s=2, window_s=2, min_windows=3, max_windows=6)
LUA = """wrk.method = "POST"; wrk.body = os.getenv("BODY"); wrk.headers["Content-Type"] = "application/json"
function done(s, l, r) io.write(string.format("RESULT %d %d\\n", s.requests, s.duration)) end
"""


def wrk_rps(url: str, body: bytes, conc: int, seconds: int, work: Path) -> float:
    lua = work / "post.lua"
    lua.write_text(LUA)
    env = {"BODY": body.decode(), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["wrk", "-t1", f"-c{conc}", f"-d{seconds}s", "-s", str(lua), url],
                         capture_output=True, text=True, env=env, timeout=seconds + 60).stdout  # fmt: skip
    requests, duration_us = map(int, re.search(r"RESULT (\d+) (\d+)", out).groups())  # type: ignore[union-attr]
    return requests / (duration_us / 1e6)


def saturation(work: Path, conc: list[int]) -> None:
    adapter = HARNESS / "adapters" / "fastapi_server.py"
    if not adapter.exists() or shutil.which("wrk") is None:
        print("skipping saturation: needs ../shared/bench and wrk")
        return
    model = examples.mlp_onnx(work / "tabular.onnx")
    port = free_port()
    server = subprocess.Popen([sys.executable, str(adapter), "--model", str(model), "--name", "tabular",
                               "--port", str(port)], stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        body = json.dumps({"x": np.random.default_rng(0).standard_normal((1, 32)).tolist()}).encode()
        target = Target("127.0.0.1", port, http_request("127.0.0.1", port, "/predict", body,
                                                         {"content-type": "application/json"}))  # fmt: skip
        print("FastAPI (W1)      wrk req/s   modelyard req/s   ratio   generator µs/req")
        for c in conc:
            theirs = wrk_rps(f"{url}/predict", body, c, 10, work)
            ours = measure(target, url, "tabular", "closed", c, WINDOWS, server_metrics=False)
            print(f"  c={c:<3}         {theirs:9,.0f}   {ours.summary.throughput:15,.0f}   "
                  f"{ours.summary.throughput / theirs:5.2f}   {ours.generator_us:8.1f}")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)


def perf_analyzer(port: int, load: list[str]) -> tuple[float, float, float] | None:
    """(infer/s, p99 ms, its own CPU µs per request) from one perf_analyzer run, or None when it cannot run."""
    binary = Path(sys.executable).parent / "perf_analyzer"
    if not binary.exists():
        return None
    env = dict(os.environ)
    cudart = next(Path(sys.prefix).glob("lib/python*/site-packages/nvidia/cuda_runtime/lib"), None)
    if cudart:
        env["LD_LIBRARY_PATH"] = str(cudart)
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    result = subprocess.run([str(binary), "-m", "tabular", "-u", f"127.0.0.1:{port}", *load,
                             "--measurement-interval", "4000", "--percentile", "99"],
                            capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - started
    found = re.search(r"throughput: ([\d.]+) infer/sec, latency (\d+) usec", result.stdout)
    if not found:
        print("perf_analyzer failed:", (result.stderr or result.stdout)[-300:])
        return None
    rps, p99_us = float(found.group(1)), float(found.group(2))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return rps, p99_us / 1e3, 1e6 * cpu / (rps * wall)


def agreement(work: Path, conc: list[int], rates: list[int]) -> None:
    from modelyard.packaging import build_package

    build_package(examples.mlp_onnx(work / "w1.onnx"), work / "models" / "tabular", name="tabular")
    server = start_server([str(work / "models"), "--workers", "2", "--grpc-port", "0"], work / "home")
    try:
        target = target_for(server.url, "tabular", example_inputs(server.url, "tabular"))
        print("modelyard (W1)   perf_analyzer: req/s  p99 ms  µs/req   modelyard bench: req/s  p99 ms  µs/req", end="")
        print("   req/s ratio")
        loads = [("closed", c, ["--concurrency-range", str(c)]) for c in conc]
        open_loop = ["--request-distribution", "poisson", "--stability-percentage", "30", "--max-trials", "10"]
        loads += [("open", r, ["--request-rate-range", str(r), *open_loop]) for r in rates]
        for mode, value, args in loads:
            theirs = perf_analyzer(server.port, args)
            ours = measure(target, server.url, "tabular", mode, value, WINDOWS)  # type: ignore[arg-type]
            s = ours.summary
            label = f"c={value}" if mode == "closed" else f"{value}/s"
            p99 = ours.extra["p99_from_send_ms"]  # counted from the send, as perf_analyzer counts
            mine = f"{s.throughput:22,.0f}  {p99:6.2f}  {ours.generator_us:6.1f}"
            if theirs is None:
                print(f"  {label:<8}       {'(perf_analyzer not runnable)':>29}   {mine}")
                continue
            print(f"  {label:<8}       {theirs[0]:14,.0f}  {theirs[1]:6.2f}  {theirs[2]:6.1f}   {mine}   "
                  f"{s.throughput / theirs[0]:5.2f}")  # fmt: skip
    finally:
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conc", default="16,64")
    parser.add_argument("--rates", default="2000,5000")
    args = parser.parse_args()
    conc = [int(c) for c in args.conc.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        saturation(Path(tmp), conc)
        agreement(Path(tmp), conc, [int(r) for r in args.rates.split(",")])


if __name__ == "__main__":
    main()
