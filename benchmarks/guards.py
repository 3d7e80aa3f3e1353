"""What the decoder's guards against hostile bodies cost on the request path: W1 and W2 bodies, JSON (eager and
lazy) and binary, decoded with the guards on and off, alternating in one run, as ratios (on / off).

The guards: a JSON body large enough to hold an over-long array has its commas counted (simdjson's 24-bit array
length), lazy data is counted against its shape before it becomes Python objects, and a float tensor read from
JSON is checked for `null`.

    .venv/bin/python benchmarks/guards.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson

from modelyard.protocol import http, jsonbody
from modelyard.protocol.calls import encode


@contextlib.contextmanager
def guards_off() -> Iterator[None]:
    saved = jsonbody.MAX_VALUES, http._no_null, jsonbody.count_values
    jsonbody.MAX_VALUES = 1 << 62  # no body is large enough to be counted
    http._no_null = lambda where, array, data: array  # type: ignore[assignment]
    jsonbody.count_values = lambda value, most: len(value)  # type: ignore[assignment]
    try:
        yield
    finally:
        jsonbody.MAX_VALUES, http._no_null, jsonbody.count_values = saved  # type: ignore[assignment]


def bodies() -> dict[str, tuple[bytes, int | None]]:
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((1, 32)).astype(np.float32)
    w2 = rng.standard_normal((1, 3, 64, 64)).astype(np.float32)
    out: dict[str, tuple[bytes, int | None]] = {}
    for name, x in (("W1", w1), ("W2", w2)):
        doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}]}
        out[f"{name} json"] = (orjson.dumps(doc), None)
        binary = encode({"x": x})
        out[f"{name} binary"] = (binary.body, int(binary.headers["Inference-Header-Content-Length"]))
    return out


def per_call_us(decode: Callable[[], Any], seconds: float = 0.3) -> float:
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        decode()
        calls += 1
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'body':<12} {'bytes':>8} {'on µs':>8} {'off µs':>8} {'on/off':>7}  (median of {args.rounds} alternating)")
    for name, (body, length) in bodies().items():
        on, off = [], []
        for _ in range(args.rounds):
            on.append(per_call_us(lambda b=body, n=length: http.decode_request(b, n)))  # type: ignore[misc]
            with guards_off():
                off.append(per_call_us(lambda b=body, n=length: http.decode_request(b, n)))  # type: ignore[misc]
        ratios = [a / b for a, b in zip(on, off, strict=True)]
        print(f"{name:<12} {len(body):>8,} {statistics.median(on):>8.1f} {statistics.median(off):>8.1f} "
              f"{statistics.median(ratios):>7.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
