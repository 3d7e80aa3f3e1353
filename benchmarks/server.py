"""Server throughput and latency against raw in-process ONNX Runtime, with wrk as the load generator.

W1 `tabular` (MLP 32 → 256 → 256 → 1, one row per request) and W2 `image` (CNN on 3×64×64, one image per request),
JSON and binary tensors over HTTP (wrk) and raw tensors over gRPC (an asyncio generator, which shares the cores
with the server), closed loop at concurrency 1, 16 and 64. Every row is printed as a ratio to raw ONNX
Runtime rows/s at batch 32 with one thread, measured in the same run, and the memory of the server's whole
process tree after the run. Needs Debian's `wrk` (apt-get install wrk).

    .venv/bin/python benchmarks/server.py [--duration 8] [--workers 2] [--conc 1,16,64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson

from modelyard import examples
from modelyard.testing import start_server, stop_server

LUA = """
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"; wrk.body = f:read("*a"); f:close()
wrk.headers["Content-Type"] = "application/json"
local hl = os.getenv("HEADER_LENGTH")
if hl and hl ~= "" then wrk.headers["Inference-Header-Content-Length"] = hl end
function done(s, latency, requests)
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    s.requests, s.duration, s.errors.status + s.errors.read + s.errors.timeout + s.errors.connect,
    latency:percentile(50), latency:percentile(99)))
end
"""


def raw_rows_per_s(model: Path, x: np.ndarray, batch: int, seconds: float = 1.0) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feed = {"x": np.repeat(x, batch, axis=0)}
    session.run(None, feed)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.run(None, feed)
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def bodies(work: Path, name: str, x: np.ndarray) -> dict[str, tuple[Path, str]]:
    tensor = {"name": "x", "datatype": "FP32", "shape": list(x.shape)}
    json_body = work / f"{name}.json"
    json_body.write_bytes(orjson.dumps({"inputs": [{**tensor, "data": x.ravel().tolist()}]}))
    head = orjson.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": x.nbytes}}],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        }
    )
    binary_body = work / f"{name}.bin"
    binary_body.write_bytes(head + x.tobytes())
    return {"json": (json_body, ""), "binary": (binary_body, str(len(head)))}


def wrk(url: str, lua: Path, body: Path, header_length: str, conc: int, seconds: float) -> dict[str, float]:
    env = {"BODY": str(body), "HEADER_LENGTH": header_length, "PATH": "/usr/bin:/bin"}
    cmd = ["wrk", "-t1", f"-c{conc}", f"-d{round(seconds)}s", "-s", str(lua), url]  # wrk takes whole seconds
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


async def grpc_load(port: int, model: str, x: np.ndarray, conc: int, seconds: float) -> dict[str, float]:
    """Closed-loop gRPC load (raw tensors) from asyncio: wrk speaks no gRPC. The generator is Python and shares
    the two cores with the server, so these rows understate the server; compare them with each other."""
    import grpc

    from modelyard.protocol.grpc import grpc_predict_v2_pb2 as pb
    from modelyard.protocol.grpc.methods import method_stub

    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=list(x.shape))
    request = pb.ModelInferRequest(model_name=model, inputs=[tensor], raw_input_contents=[x.tobytes()])
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = method_stub(channel, "ModelInfer")

        async def user(until: float) -> None:
            nonlocal errors
            while time.perf_counter() < until:
                start = time.perf_counter()
                try:
                    await call(request, timeout=10)
                except grpc.aio.AioRpcError:
                    errors += 1
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(user(time.perf_counter() + 1) for _ in range(conc)))  # warm-up
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(user(started + seconds) for _ in range(conc)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "duration_us": elapsed * 1e6,
        "errors": errors,
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99) - 1] * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--conc", default="1,16,64")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    concurrencies = [int(c) for c in args.conc.split(",")]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lua = work / "post.lua"
        lua.write_text(LUA)
        models = {
            "tabular": (examples.mlp_onnx(work / "tabular.onnx"), rng.standard_normal((1, 32)).astype(np.float32)),
            "image": (examples.cnn_onnx(work / "image.onnx"), rng.standard_normal((1, 3, 64, 64)).astype(np.float32)),
        }
        raw = {name: raw_rows_per_s(path, x, 32) for name, (path, x) in models.items()}
        for name, (path, x) in models.items():
            print(f"raw ONNX Runtime {name}: {raw[name]:,.0f} rows/s at batch 32, 1 thread; "
                  f"{raw_rows_per_s(path, x, 1):,.0f} rows/s at batch 1")  # fmt: skip
        started = time.perf_counter()
        server = start_server(
            [str(models["tabular"][0]), str(models["image"][0]), "--workers", str(args.workers)],
            work / "home",
            work / "server.log",
        )
        ready_s = time.perf_counter() - started
        print(f"server ready {ready_s:.2f} s after start ({args.workers} workers, both models); "
              f"memory after load {server.memory()}\n")  # fmt: skip
        print(f"{'workload':<9} {'format':<7} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
              f"{'vs raw b32':>10}")  # fmt: skip
        try:
            for name, (_, x) in models.items():
                for fmt, (body, header_length) in bodies(work, name, x).items():
                    if name == "tabular" and fmt == "binary":
                        continue
                    url = f"{server.url}/v2/models/{name}/infer"
                    for conc in concurrencies:
                        wrk(url, lua, body, header_length, conc, 2)
                        r = wrk(url, lua, body, header_length, conc, args.duration)
                        rps = r["requests"] / r["duration_us"] * 1e6
                        print(f"{name:<9} {fmt:<7} {conc:>4} {rps:>9,.0f} {r['p50_us'] / 1e3:>8.2f} "
                              f"{r['p99_us'] / 1e3:>8.2f} {r['errors']:>6.0f} {rps / raw[name]:>10.4f}")  # fmt: skip
            for name, (_, x) in models.items():
                for conc in concurrencies:
                    r = asyncio.run(grpc_load(server.grpc_port, name, x, conc, args.duration))
                    rps = r["requests"] / r["duration_us"] * 1e6
                    print(f"{name:<9} {'grpc':<7} {conc:>4} {rps:>9,.0f} {r['p50_us'] / 1e3:>8.2f} "
                          f"{r['p99_us'] / 1e3:>8.2f} {r['errors']:>6.0f} {rps / raw[name]:>10.4f}")  # fmt: skip
            print(f"\nmemory of the process tree right after the runs: {server.memory()}")
            time.sleep(2.5)
            print(f"memory 2.5 s later (idle release): {server.memory()}")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
