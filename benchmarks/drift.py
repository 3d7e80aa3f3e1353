"""How fast drift is judged, and what a reference profile costs to build: 1M current rows x 50 features against a
stored reference (read from Parquet, featured, judged), and a profile of 10M rows streamed from Parquet, its peak
RSS against the file's size. With `--evidently PYTHON` (an interpreter with `evidently` installed), the same
current and reference data through Evidently's DataDriftPreset, in the same run, and the two verdicts compared.

    .venv/bin/python benchmarks/drift.py [--rows 1000000] [--features 50] [--profile-rows 10000000]
                                         [--evidently /tmp/ev/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelyard.drift import features
from modelyard.drift.compare import Window
from modelyard.monitoring.run import profile_of
from modelyard.monitoring.sources import chunks

SHIFTED = 5  # the first five features move by half a standard deviation; the rest do not


def write(path: Path, rows: int, columns: int, shift: bool, seed: int, batch: int = 1_000_000) -> Path:
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        x = rng.normal(size=(n, columns)).astype(np.float32)
        if shift:
            x[:, :SHIFTED] += 0.5
        table = pa.table({f"f{i}": x[:, i] for i in range(columns)})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return path


EVIDENTLY = """
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference, current = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
start = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
seconds = time.perf_counter() - start
result = snapshot.dict()
drifted = []
for metric in result["metrics"]:
    config = metric["config"]
    if "ValueDrift" not in config["type"]:
        continue
    value, threshold = metric["value"], config["threshold"]
    if (value < threshold) if "p_value" in config["method"] else (value >= threshold):
        drifted.append(config["column"])
method = next((m["config"]["method"] for m in result["metrics"] if "ValueDrift" in m["config"]["type"]), "")
print(json.dumps({"seconds": seconds, "drifted": sorted(drifted), "method": method}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--profile-rows", type=int, default=10_000_000)
    parser.add_argument("--evidently", help="a Python with evidently installed")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelyard-drift-"))
    reference = write(work / "reference.parquet", args.reference_rows, args.features, False, 0)
    current = write(work / "current.parquet", args.rows, args.features, True, 1)
    profile = profile_of([str(reference)])
    started = time.perf_counter()
    window = Window(profile)
    for chunk in chunks(str(current)):
        window.add(features(chunk))
    verdicts = window.judge()
    seconds = time.perf_counter() - started
    drifted = sorted(f.name for f in verdicts if f.drift)
    expected = [f"f{i}" for i in range(SHIFTED)]
    print(
        f"{args.rows:,} rows x {args.features} features: verdict in {seconds:.2f} s (read, featured, judged); "
        f"drifting {drifted} ({'as shifted' if drifted == expected else 'NOT as shifted: ' + str(expected)})"
    )
    if args.evidently:
        out = subprocess.run([args.evidently, "-c", EVIDENTLY, str(reference), str(current)], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
        theirs = json.loads(out.strip().splitlines()[-1])
        same = sorted(theirs["drifted"]) == drifted
        print(
            f"Evidently DataDriftPreset on the same data: {theirs['seconds']:.2f} s, "
            f"{theirs['seconds'] / seconds:.1f}x modelyard's time; drifting {sorted(theirs['drifted'])} "
            f"({'the same verdicts' if same else 'other verdicts'})"
        )
    if args.profile_rows:
        big = write(work / "big.parquet", args.profile_rows, args.features, False, 2)
        out = subprocess.run([sys.executable, "-c", PROFILE, str(big)], capture_output=True, text=True, check=True)
        rows, seconds, peak, baseline = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"profile of {rows:,} rows x {args.features} features from Parquet "
            f"({big.stat().st_size / (1 << 20):,.0f} MiB) in a process of its own: {seconds:.1f} s, peak RSS "
            f"{peak:,.0f} MiB ({baseline:,.0f} MiB of it before the first row was read)"
        )


PROFILE = """
import json, sys, time
from modelyard.drift import build, features
from modelyard.monitoring.sources import chunks
def peak():  # VmHWM: this process's own peak (ru_maxrss carries the parent's across exec)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024
baseline = peak()
start = time.perf_counter()
built = build(features(c) for c in chunks(sys.argv[1]))
seconds = time.perf_counter() - start
print(json.dumps([built["rows"], seconds, peak(), baseline]))
"""


if __name__ == "__main__":
    main()
