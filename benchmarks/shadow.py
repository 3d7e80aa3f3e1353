"""What a shadow costs production: `serve tabular@production` with and without `--shadow tabular/2`, alternating.

W1 registered twice (production is version 1), loaded in turn by wrk at c=16 by default, binary tensors. The
shadow answers after production and logs both answers as pairs. Prints production's throughput and p50/p99 with
the shadow on against off (medians). The issue's target: p99 within 5 % at W1 c=16. Needs `wrk`.

    .venv/bin/python benchmarks/shadow.py [--rounds 3] [--replicas 1] [--duration 3] [--conc 16] [--share 1]
        [--hidden 256] [--rate R]

`--rate R` paces Poisson arrivals at R a second instead (`modelyard bench`'s generator): production's latency
where the server has room to spare, which a closed loop (every connection waiting on the server) cannot show.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from modelyard import examples
from modelyard.registry import Registry
from modelyard.settings import Settings
from variants import compare, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=1, help="servers per variant, their rounds pooled")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--conc", default="16")
    parser.add_argument("--share", default="1", help="the shadow's (or the canary's) share of requests")
    parser.add_argument("--canary", action="store_true", help="a canary answering the share, instead of a shadow")
    parser.add_argument("--hidden", type=int, default=256, help="W1's hidden width: 2048 makes compute dominate")
    parser.add_argument("--rate", type=float, help="open-loop requests a second instead of wrk's --conc")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="modelyard-shadow-"))
    home = work / "home"
    with Registry.from_settings(Settings(home=home)) as registry:
        model = examples.mlp_onnx(work / "w1.onnx", sizes=(32, args.hidden, args.hidden, 1))
        for _ in range(2):
            registry.register(model, name="tabular")
        registry.set_alias("tabular", "production", 1)
    flag = "--canary" if args.canary else "--shadow"
    variants = {"off": ([], None), flag.strip("-"): ([flag, f"tabular/2:{args.share}"], None)}
    concurrencies = tuple(map(int, args.conc.split(",")))
    results = compare(variants, work, "binary", concurrencies, args.rounds, args.duration,
                      served=["tabular@production"], home=home, replicas=args.replicas, rate=args.rate)  # fmt: skip
    load = f"paced at {args.rate:g} requests a second (c=0 below)" if args.rate else "wrk"
    print(f"\nW1 binary, {load}, production with a {flag.strip('-')} (share {args.share}) against without, medians:")
    ratios(results, "off")


if __name__ == "__main__":
    main()
