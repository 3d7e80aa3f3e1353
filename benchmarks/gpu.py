"""Dynamic batching on a GPU: TorchScript and ONNX Runtime's CUDA provider, batching off and on.

Each model is served through `ServedModel` (the batcher, instances and validation the server runs, without the
HTTP in front) to `--conc` callers in one event loop, sending one row each, with batching off (`max_batch_size: 0`)
and on (`max_batch_size: 64`), one and two instances; then end to end over HTTP with binary tensors, the
server in its own process and the load from `modelyard bench`'s generator. Rows/s are printed as ratios to the
raw runtime in this process at batch 1 (the most an unbatched server could reach) and at batch 64 (the ceiling
batching aims at); the gain is batched rows/s over unbatched rows/s at the same concurrency.

Models: W2's CNN (3×64×64 → 10) and, when torchvision is installed, ResNet-18 (3×224×224 → 1000), both scripted
and exported to ONNX from the same torch module; without torch, W2's CNN on ONNX Runtime alone. The TorchScript
rows need torch with CUDA, the ONNX rows onnxruntime-gpu; `--device cpu` runs the same table on the CPU.

    python benchmarks/gpu.py [--device cuda] [--duration 3] [--conc 64] [--models cnn,resnet18] [--no-http]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelyard import examples
from modelyard.bench.runner import measure, target_for
from modelyard.bench.stats import Windows
from modelyard.manifest import RuntimeOptions
from modelyard.packaging import build_package
from modelyard.protocol.types import InferInput, InferRequest
from modelyard.runtimes.onnx import wanted_providers
from modelyard.server.models.served import ServedModel
from modelyard.server.models.source import ModelSource
from modelyard.testing import start_server, stop_server

BATCH = 64
CONFIGS: dict[str, dict[str, Any]] = {
    "unbatched x1": {"max_batch_size": 0, "instances": {"count": 1}},
    "unbatched x2": {"max_batch_size": 0, "instances": {"count": 2}},
    "batched x1": {"max_batch_size": BATCH, "instances": {"count": 1}},
    "batched x2": {"max_batch_size": BATCH, "instances": {"count": 2}},
}


def torch_models(torch: Any, names: list[str]) -> dict[str, tuple[Any, tuple[int, ...]]]:
    nn = torch.nn
    models: dict[str, tuple[Any, tuple[int, ...]]] = {}
    if "cnn" in names:
        cnn = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
        )  # fmt: skip
        models["cnn"] = (cnn, (3, 64, 64))
    if "resnet18" in names:
        try:
            import torchvision
        except ImportError:
            print("resnet18: torchvision is not installed, skipped")
        else:
            models["resnet18"] = (torchvision.models.resnet18(), (3, 224, 224))
    return models


def export(torch: Any, module: Any, shape: tuple[int, ...], work: Path, name: str) -> dict[str, Path]:
    """The same weights as TorchScript and as ONNX with a dynamic batch axis."""
    module = module.eval()
    example = torch.randn(2, *shape)
    files = {"torchscript": work / f"{name}.pt"}
    torch.jit.trace(module, example).save(str(files["torchscript"]))
    onnx_path = work / f"{name}.onnx"
    try:
        torch.onnx.export(
            module, (example,), str(onnx_path), input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False,
        )  # fmt: skip
        files["onnx"] = onnx_path
    except Exception as exc:  # the exporter's errors are its own types
        print(f"{name}: ONNX export failed ({exc}); ONNX rows skipped")
    return files


def model_files(names: list[str], work: Path) -> list[tuple[str, str, Path, tuple[int, ...]]]:
    """(runtime, model, file, row shape) to measure: from torch when installed, else W2's CNN as ONNX alone."""
    try:
        import torch
    except ImportError:
        print("torch is not installed: ONNX Runtime and W2's CNN only")
        return [("onnx", "cnn", examples.cnn_onnx(work / "cnn.onnx"), (3, 64, 64))] if "cnn" in names else []
    return [
        (kind, name, path, shape)
        for name, (module, shape) in torch_models(torch, names).items()
        for kind, path in export(torch, module, shape, work, name).items()
    ]


def rate(call: Callable[[], object], rows: int, seconds: float) -> float:
    for _ in range(20):
        call()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        calls += 1
    return calls * rows / (time.perf_counter() - start)


def raw_call(kind: str, path: Path, x: np.ndarray, device: str) -> Callable[[], np.ndarray] | None:
    """One call of the bare runtime on numpy input, copies to and from the GPU included, as a server pays them;
    None when the runtime cannot run on `device` here."""
    if kind == "torchscript":
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            return None
        module = torch.jit.load(str(path), map_location=device).eval()

        def run_torch() -> np.ndarray:
            with torch.inference_mode():
                return np.asarray(module(torch.from_numpy(x).to(device)).cpu().numpy())

        return run_torch
    import onnxruntime as ort

    wanted = wanted_providers(RuntimeOptions(), device)
    session = ort.InferenceSession(str(path), providers=[p for p in wanted if p in ort.get_available_providers()])
    if session.get_providers()[0] != wanted[0]:
        return None
    return lambda: np.asarray(session.run(None, {"x": x})[0])


async def drive(model: ServedModel, x: np.ndarray, conc: int, seconds: float) -> dict[str, float]:
    request = InferRequest([InferInput("x", "FP32", x.shape, x)])
    latencies: list[float] = []

    async def caller(until: float) -> None:
        while (start := time.perf_counter()) < until:
            await model.infer(request)
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(caller(time.perf_counter() + 0.5) for _ in range(conc)))
    latencies.clear()
    stats = model.stats
    batches, rows, compute_s = stats.execution_count, stats.inference_count, stats.compute_seconds.total
    start = time.perf_counter()
    await asyncio.gather(*(caller(start + seconds) for _ in range(conc)))
    elapsed = time.perf_counter() - start
    ms = np.percentile(latencies, [50, 99]) * 1e3
    batches, rows = max(stats.execution_count - batches, 1), stats.inference_count - rows
    compute_ms = (stats.compute_seconds.total - compute_s) / batches * 1e3
    return {
        "rows_s": len(latencies) / elapsed,
        "p50": ms[0],
        "p99": ms[1],
        "batch": rows / batches,
        "compute": compute_ms,
    }


async def served(
    package: Path, overrides: dict[str, Any], x: np.ndarray, expected: np.ndarray, conc: int, seconds: float
) -> dict[str, float]:
    model = await asyncio.to_thread(ServedModel.load, ModelSource("m", "1", str(package), overrides=overrides))
    model.start()
    try:
        response = await model.infer(InferRequest([InferInput("x", "FP32", x.shape, x)]))
        np.testing.assert_allclose(response.outputs[0].data, expected, rtol=1e-3, atol=1e-3)
        return await drive(model, x, conc, seconds)
    finally:
        model.close()


def over_http(package: Path, work: Path, x: np.ndarray, conc: int) -> dict[str, float]:
    server = start_server([str(package), "--name", "m", "--grpc-port", "0"], work / "home", timeout_s=120)
    try:
        level = measure(target_for(server.url, "m", {"x": x}), server.url, "m", "closed", conc, Windows(1, 1, 3, 5))
    finally:
        stop_server(server)
    s = level.summary
    return {"rows_s": s.throughput, "p50": s.p50_ms, "p99": s.p99_ms, "errors": s.errors}


def report(label: str, r: dict[str, float], raw1: float, raw_b: float, base: float | None) -> None:
    gain = f"{r['rows_s'] / base:>6.2f}x" if base else f"{'':>7}"
    batch = f"{r['batch']:>6.1f} {r['compute']:>8.3f}" if "batch" in r else f"{'':>15}"
    print(f"  {label:<24} {r['rows_s']:>9,.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {batch} "
          f"{r['rows_s'] / raw1:>7.2f} {r['rows_s'] / raw_b:>7.2f} {gain}")  # fmt: skip


def bench_one(kind: str, name: str, path: Path, shape: tuple[int, ...], args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, *shape)).astype(np.float32)
    xb = rng.standard_normal((BATCH, *shape)).astype(np.float32)
    call1, callb = raw_call(kind, path, x1, args.device), raw_call(kind, path, xb, args.device)
    if call1 is None or callb is None:
        hint = "torch built with CUDA" if kind == "torchscript" else "pip install onnxruntime-gpu"
        print(f"\n{kind} {name}: cannot run on {args.device} here ({hint}), skipped")
        return
    expected = call1()
    raw1, raw_b = rate(call1, 1, args.duration / 2), rate(callb, BATCH, args.duration / 2)
    print(f"\n{kind} {name}: raw {raw1:,.0f} rows/s at batch 1, {raw_b:,.0f} at batch {BATCH} "
          f"({raw_b / raw1:.1f}x); {args.conc} callers, one row each")  # fmt: skip
    columns = ("rows/s", 9), ("p50 ms", 8), ("p99 ms", 8), ("batch", 6), ("batch ms", 8), ("vs b1", 7), ("vs b64", 7)
    print(f"  {'':<24} " + " ".join(f"{c:>{w}}" for c, w in columns) + f" {'gain':>7}")
    package = Path(tempfile.mkdtemp(prefix=f"{kind}-{name}-"))
    device = {"instances": {"device": args.device}}
    build_package(path, package / "pkg", name="m", example={"x": x1}, options={**device, "max_batch_size": BATCH})
    base: dict[int, float] = {}
    for label, config in CONFIGS.items():
        overrides = {**config, "instances": {**config["instances"], "device": args.device}}
        r = asyncio.run(served(package / "pkg", overrides, x1, expected, args.conc, args.duration))
        count = config["instances"]["count"]
        report(label, r, raw1, raw_b, base.get(count))
        base.setdefault(count, r["rows_s"])
    if args.http:
        unbatched = package / "unbatched"
        build_package(path, unbatched, name="m", example={"x": x1}, options={**device, "max_batch_size": 0})
        first = over_http(unbatched, package, x1, args.conc)
        report("HTTP unbatched x1", first, raw1, raw_b, None)
        report("HTTP batched x1", over_http(package / "pkg", package, x1, args.conc), raw1, raw_b, first["rows_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--conc", type=int, default=64)
    parser.add_argument("--models", default="cnn,resnet18")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu to compare on a machine without one")
    parser.add_argument("--no-http", dest="http", action="store_false")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelyard-gpu-"))
    for kind, name, path, shape in model_files(args.models.split(","), work):
        bench_one(kind, name, path, shape, args)


if __name__ == "__main__":
    main()
