"""Scale to zero per model: the first response from zero against a warm one. Serves each demo model with
`--idle-unload 1`, waits until /metrics shows it unloaded, times one request (the load, the warm-up and the
answer), three times, then five warm requests; prints the figures and the ratio.

    modelyard demo --no-serve && .venv/bin/python benchmarks/cold_start.py [--models tabular,image,churn]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from modelyard.cli.profile import from_zero
from modelyard.client import Client
from modelyard.testing import start_server, stop_server

INPUTS = {"tabular": np.ones((1, 32), np.float32), "image": np.ones((1, 3, 64, 64), np.float32),
          "churn": np.ones((1, 8), np.float64)}  # fmt: skip


def measure(name: str, rounds: int = 3) -> tuple[list[float], float]:
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    server = start_server([f"{name}@production", "--idle-unload", "1"], log=log)
    try:
        cold = from_zero(server.url, name, {"x": INPUTS[name]}, rounds)  # what `modelyard profile` puts in the card
        with Client(server.url, timeout_s=60) as client:
            warm = []
            for _ in range(5):
                start = time.perf_counter()
                client.infer(name, {"x": INPUTS[name]})
                warm.append(time.perf_counter() - start)
        return cold, min(warm)
    finally:
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tabular,image,churn")
    args = parser.parse_args()
    for name in args.models.split(","):
        cold, warm = measure(name)
        print(
            f"{name}: first response from zero {', '.join(f'{c * 1000:.1f}' for c in cold)} ms; warm "
            f"{warm * 1000:.1f} ms; from zero / warm {min(cold) / warm:.1f}x to {max(cold) / warm:.1f}x"
        )


if __name__ == "__main__":
    main()
