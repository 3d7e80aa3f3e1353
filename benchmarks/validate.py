"""How long the gate takes to a verdict: `--requests` recorded W1 requests (written with the traffic log's own
writer) replayed through two versions, timed from the window read to the verdict. The issue's target: 4,000
requests in under 30 s on this machine.

    .venv/bin/python benchmarks/validate.py [--requests 4000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from modelyard import examples
from modelyard.manifest import read_manifest
from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse
from modelyard.registry import Registry
from modelyard.server.repository.sources import SourceResolver
from modelyard.settings import Settings
from modelyard.traffic import Sampler, TrafficLog
from modelyard.validation import Policy
from modelyard.validation.replay import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelyard-validate-"))
    settings = Settings(home=home)
    with Registry.from_settings(settings) as registry:
        model = examples.mlp_onnx(home / "w1.onnx")
        for _ in range(2):
            registry.register(model, name="w1")
        log = TrafficLog(settings.traffic_url, Sampler(1.0))
        rng = np.random.default_rng(0)
        for i in range(args.requests):
            x = rng.normal(size=(1, 32)).astype(np.float32)
            request = InferRequest([InferInput("x", "FP32", x.shape, x)], id=str(i))
            log.record("w1@production", "1", request, InferResponse("w1", "1", [InferOutput("y", "FP32", x[:, :1])]), 1)
        log.close()
        started = time.perf_counter()
        requests = registry.traffic("w1/1").requests()
        read = time.perf_counter()
        resolver = SourceResolver(home / "cache", registry)
        sources = [resolver.spec_for(registry.get(f"w1/{v}")) for v in (1, 2)]
        signatures = tuple(read_manifest(Path(s.package_dir)).signature for s in sources)
        verdict = validate(sources[0], sources[1], (signatures[0], signatures[1]), requests, Policy())
        done = time.perf_counter()
    print(f"{len(requests)} recorded requests: read {read - started:.2f} s, verdict {verdict.outcome} after "
          f"{done - started:.2f} s in all ({(done - started) / 30:.2f} of the 30 s target)")  # fmt: skip
    for check in verdict.checks:  # the same model twice: every ratio here is the machine's noise
        print(f"  {check.line}")


if __name__ == "__main__":
    main()
