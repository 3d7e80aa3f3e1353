"""Batch inference against bare ONNX Runtime on the same file, batch size and threads, alternating in one run,
each variant in its own process so that its peak RSS (VmHWM) is its own; with `--ray`, the same job through Ray
Data's own `read_parquet().map_batches(ONNX Runtime).write_parquet()`; with `--resume`, the time to plan (read and
digest the inputs, check the folder) and to finish a job killed half way.

    .venv/bin/python benchmarks/batch.py [--model w1|w2] [--rows 1000000] [--rounds 2] [--batch-size 1024]
                                         [--ray] [--resume]

The bare loop is what a user writes by hand: stream the Parquet file a batch at a time, run the session, write the
outputs with a ParquetWriter. modelyard's adds the data plane, exactly-once parts, kept columns and the errors
path; the ratio is what they cost (or, as batches overlap reading and writing, save).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelyard import examples

THREADS = max(1, os.cpu_count() or 1)  # what modelyard gives one instance on this machine (models/served.py)

RAW = """
import json, sys, time, numpy as np, onnxruntime as ort, pyarrow as pa, pyarrow.parquet as pq
model, data, out, batch, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
start = time.perf_counter()
options = ort.SessionOptions()
options.intra_op_num_threads = threads
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
name, shape = session.get_inputs()[0].name, session.get_inputs()[0].shape
writer, rows = None, 0
for b in pq.ParquetFile(data, pre_buffer=False).iter_batches(batch_size=batch):
    column = b.column("x")
    x = column.flatten().to_numpy().reshape(len(b), *[d for d in shape[1:]])
    y = session.run(None, {name: x})[0].reshape(len(b), -1)
    table = pa.table({"id": b.column("id"), "y": pa.FixedSizeListArray.from_arrays(pa.array(y.ravel()), y.shape[1])})
    writer = writer or pq.ParquetWriter(out, table.schema)
    writer.write_table(table)
    rows += len(b)
writer.close()
seconds = time.perf_counter() - start
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": peak / 1024}))
"""

OURS = """
import json, sys, time
from modelyard import batch
from modelyard.settings import Settings
model, data, out, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
engine = sys.argv[5] if len(sys.argv) > 5 else "local"
start = time.perf_counter()
summary = batch.run(model, [data], out, keep=["id"], batch_size=size, overwrite=True, settings=Settings(),
                    engine=engine)
seconds = time.perf_counter() - start
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "rows": summary.rows, "peak_mib": peak / 1024, "plan_s": None}))
"""

PLAN = """
import json, sys, time
from modelyard import batch
from modelyard.settings import Settings
start = time.perf_counter()
batch.plan(sys.argv[1], [sys.argv[2]], sys.argv[3], keep=["id"], batch_size=int(sys.argv[4]), settings=Settings())
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

RAY = """
import json, sys, time, numpy as np, pyarrow as pa
import ray, ray.data
model, data, out, batch, actors = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ray.init(num_cpus=actors, include_dashboard=False, log_to_driver=False, configure_logging=False)
ray.data.DataContext.get_current().enable_progress_bars = False

class Predict:
    def __init__(self):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.name, self.shape = self.session.get_inputs()[0].name, self.session.get_inputs()[0].shape

    def __call__(self, b):
        x = np.stack(b["x"]).astype(np.float32).reshape(len(b["x"]), *self.shape[1:])
        y = self.session.run(None, {self.name: x})[0].reshape(len(x), -1)
        return {"id": b["id"], "y": y}

start = time.perf_counter()
(ray.data.read_parquet(data).map_batches(Predict, batch_size=batch, compute=ray.data.ActorPoolStrategy(size=actors),
                                          num_cpus=0.5).write_parquet(out))
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def write_data(path: Path, model: str, rows: int, chunk: int = 262_144) -> Path:
    rng = np.random.default_rng(0)
    width = 32 if model == "w1" else 3 * 64 * 64
    chunk = chunk if model == "w1" else 1024
    writer = None
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        x = rng.normal(size=(n, width)).astype(np.float32)
        table = pa.table(
            {"id": np.arange(start, start + n), "x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), width)}
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=chunk)
    assert writer is not None
    writer.close()
    return path


def measure(script: str, *args: object) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"a variant failed:\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def resume(model: Path, data: Path, out: Path, size: int, home: Path) -> dict[str, float]:
    """Kill the job once about half its parts are done, then time the same command to the end."""
    env = {**os.environ, "MODELYARD_HOME": str(home)}
    command = [sys.executable, "-m", "modelyard", "batch", str(model), str(data), "-o", str(out), "--keep", "id",
               "--batch-size", str(size), "--overwrite"]  # fmt: skip
    job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = len(pq.ParquetFile(data).metadata.to_dict()["row_groups"])  # at most; parts gather row groups
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and job.poll() is None:
        done = len(list((out / "_done").glob("*.json"))) if (out / "_done").exists() else 0
        if done and done >= parts // 8:  # PART_ROWS = 4 row groups of 262,144
            break
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    killed = len(list((out / "_done").glob("*.json")))
    start = time.perf_counter()
    subprocess.run(command[:-1], env=env, check=True, capture_output=True)
    return {"parts_done_when_killed": killed, "resume_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["w1", "w2"], default="w1")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--ray", action="store_true", help="also Ray Data's own map_batches")
    parser.add_argument("--resume", action="store_true", help="also kill a job half way and time its resume")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MODELYARD_HOME"] = str(root / "home")
        model = examples.mlp_onnx(root / "w1.onnx") if args.model == "w1" else examples.cnn_onnx(root / "w2.onnx")
        data = write_data(root / "data.parquet", args.model, args.rows)
        size_mib = data.stat().st_size / (1 << 20)
        print(f"{args.model}: {args.rows:,} rows, {size_mib:,.0f} MiB of Parquet, batch {args.batch_size}, "
              f"{THREADS} threads")  # fmt: skip
        raw, ours = [], []
        for round_ in range(args.rounds):
            pair = [("raw", raw, RAW, (model, data, root / "raw.parquet", args.batch_size, THREADS)),
                    ("modelyard", ours, OURS, (model, data, root / "out", args.batch_size))]  # fmt: skip
            for label, found, script, extra in pair if round_ % 2 == 0 else pair[::-1]:
                result = measure(script, *extra)
                found.append(result)
                print(
                    f"  round {round_ + 1} {label:>9}: {result['seconds']:.2f} s, "
                    f"{args.rows / result['seconds']:,.0f} rows/s, peak RSS {result['peak_mib']:.0f} MiB"
                )
        ratio = median(r["seconds"] for r in raw) / median(o["seconds"] for o in ours)
        peaks = median(o["peak_mib"] for o in ours), median(r["peak_mib"] for r in raw)
        print(
            f"modelyard / raw ONNX Runtime throughput: {ratio:.3f}x; peak RSS {peaks[0]:.0f} MiB against "
            f"{peaks[1]:.0f} MiB"
        )
        plan = measure(PLAN, model, data, root / "planned", args.batch_size)
        print(f"plan (read footers, digest {size_mib:,.0f} MiB, check): {plan['seconds']:.2f} s")
        if args.ray:
            found = measure(RAY, model, data, root / "ray-out", args.batch_size, THREADS)
            print(
                f"Ray Data map_batches: {found['seconds']:.2f} s; modelyard / Ray Data throughput: "
                f"{found['seconds'] / median(o['seconds'] for o in ours):.2f}x"
            )
            on_ray = measure(OURS, model, data, root / "ours-on-ray", args.batch_size, "ray")
            print(f"modelyard --engine ray (a local Ray instance, its start included): {on_ray['seconds']:.2f} s; "
                  f"against Ray Data's map_batches {found['seconds'] / on_ray['seconds']:.2f}x, against the local "
                  f"engine {median(o['seconds'] for o in ours) / on_ray['seconds']:.2f}x")  # fmt: skip
        if args.resume:
            killed = resume(model, data, root / "resumed", args.batch_size, root / "home")
            print(
                f"killed with {killed['parts_done_when_killed']:.0f} parts done; the same command finished in "
                f"{killed['resume_s']:.2f} s"
            )


if __name__ == "__main__":
    main()
