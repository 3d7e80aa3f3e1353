"""Does unloading give memory back? RSS of the server's process tree across load/unload cycles.

Serves W1 (MLP), W2 (CNN) and a wide MLP (19 MB of weights) from packages, sends a burst of requests to each,
then unloads and loads them through the repository API `--cycles` times, sending a burst after each load.
load, with all unloaded, and after every cycle, as ratios to the first figure (1.00 = back where it was).

    .venv/bin/python benchmarks/unload.py [--cycles 10] [--workers 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from modelyard import examples
from modelyard.packaging import build_package
from modelyard.testing import Server, start_server, stop_server

MODELS = {"tabular": (1, 32), "image": (1, 3, 64, 64), "wide": (1, 256)}


def burst(server: Server, requests: int = 200) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for name, shape in MODELS.items():
            x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(shape), "data": x.ravel().tolist()}]}
            for _ in range(requests):
                client.post(f"/v2/models/{name}/infer", json=body).raise_for_status()


def repository(server: Server, action: str) -> None:
    for name in MODELS:
        httpx.post(f"{server.url}/v2/repository/models/{name}/{action}", timeout=60).raise_for_status()


def settled_rss(server: Server, wait_s: float = 2.5) -> float:
    time.sleep(wait_s)  # the idle watcher gives arena memory back one period after traffic stops
    return server.rss_mib()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_package(examples.mlp_onnx(work / "tabular.onnx"), work / "models" / "tabular")
        build_package(examples.cnn_onnx(work / "image.onnx"), work / "models" / "image")
        wide = examples.mlp_onnx(work / "wide.onnx", sizes=(256, 2048, 2048, 10))  # 19 MB of weights
        build_package(wide, work / "models" / "wide")
        server = start_server([str(work / "models"), "--workers", str(args.workers), "--grpc-port", "0"], work / "h")
        try:
            burst(server)
            first = settled_rss(server)
            repository(server, "unload")
            empty = settled_rss(server)
            print(f"loaded, after a burst: {first:7.1f} MiB  1.00")
            print(f"all unloaded:           {empty:7.1f} MiB  {empty / first:.2f}")
            for cycle in range(1, args.cycles + 1):
                repository(server, "load")
                burst(server)
                loaded = settled_rss(server, 1.5)
                repository(server, "unload")
                unloaded = settled_rss(server, 1.0)
                print(f"cycle {cycle:2d}: loaded {loaded:7.1f} MiB  {loaded / first:.2f}   ", end="")
                print(f"unloaded {unloaded:7.1f} MiB  {unloaded / first:.2f}")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
