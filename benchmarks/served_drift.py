"""What drift and input checks cost the server: `serve tabular@production` (W1, registered with a reference profile)
with neither (`--no-drift --input-checks off`), the input checks alone (`--no-drift`, checks warn by default), and
both (the default), alternating, in one run. The issue's target for drift: at most 3 % of throughput at W1 c=64.
Needs `wrk`.

    .venv/bin/python benchmarks/served_drift.py [--rounds 5] [--duration 3] [--conc 64]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from modelyard import examples
from modelyard.monitoring.run import reference_from_data
from modelyard.registry import Registry
from modelyard.settings import Settings
from variants import compare, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--conc", default="64")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="modelyard-served-drift-"))
    home = work / "home"
    np.savez(work / "reference.npz", x=np.random.default_rng(0).normal(size=(20_000, 32)).astype(np.float32))
    with Registry.from_settings(Settings(home=home)) as registry:
        registry.register(examples.mlp_onnx(work / "w1.onnx"), name="tabular")
        # as `modelyard reference set` does: the model's outputs on the data are profiled too (prediction drift)
        reference_from_data(registry, "tabular/1", [str(work / "reference.npz")], home / "cache" / "registry")
        registry.set_alias("tabular", "production", 1)
    variants = {"off": (["--no-drift", "--input-checks", "off"], None), "checks": (["--no-drift"], None),
                "drift+checks": ([], None)}  # fmt: skip
    results = compare(variants, work, "binary", tuple(map(int, args.conc.split(","))), args.rounds, args.duration,
                      served=["tabular@production"], home=home, replicas=args.replicas)  # fmt: skip
    print("\nW1 binary, against neither (off), medians:")
    ratios(results, "off")


if __name__ == "__main__":
    main()
