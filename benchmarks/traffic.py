"""What the traffic log costs: the same server with `--log-sample` 0 (off), 0.1 and 1.0, alternating, in one run.

W1 (the MLP) at c=64 by default, binary tensors, loaded in turn by wrk; each logging server writes Parquet under a
home of its own. Prints each round and each variant's throughput and p99 against logging off (medians). The
issue's targets: at most 3 % of throughput at 0.1 and 10 % at 1.0. Needs `wrk`.

    .venv/bin/python benchmarks/traffic.py [--rounds 3] [--replicas 1] [--duration 3] [--conc 64] [--body json|binary]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from variants import compare, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=1, help="servers per variant, their rounds pooled")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--conc", default="64")
    parser.add_argument("--body", choices=["json", "binary"], default="binary")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="modelyard-traffic-"))
    variants = {
        "off": ([], None),
        "sample 0.1": (["--log-sample", "0.1"], None),
        "sample 1": (["--log-sample", "1"], None),
    }
    concurrencies = tuple(map(int, args.conc.split(",")))
    results = compare(variants, work, args.body, concurrencies, args.rounds, args.duration, replicas=args.replicas)
    print(f"\nW1 {args.body}, the traffic log on against off, medians:")
    ratios(results, "off")


if __name__ == "__main__":
    main()
