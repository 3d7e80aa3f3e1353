"""Dashboard pages with a full registry: each page's p50 and p95 over HTTP, against the issue's 200 ms budget.

The registry holds --versions versions (default 10,000): one hot model with a third of them, 2,000 alias moves and
200 validations, the rest spread over 99 models with tags and authors, as `benchmarks/registry.py` fills it. The
dashboard is the real application under uvicorn on 127.0.0.1, asked by one client at a time (its time, not a load
test). PostgreSQL runs too when MODELYARD_TEST_POSTGRES_URL is set.

    .venv/bin/python benchmarks/ui.py [--versions 10000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn

from modelyard import examples
from modelyard.packaging import build_package
from modelyard.registry import ArtifactStore, Registry
from modelyard.registry.entities import NewVersion, Validation
from modelyard.registry.sql import SqlAlchemyStore
from modelyard.testing import free_port, postgres_schema, wait_until
from modelyard.ui import create_app

MODELS = 100
BUDGET_MS = 200.0
HOT = "model-000"


def fill(registry: Registry, package: Path, versions: int) -> float:
    store = registry.store
    first = registry.register(package, name=HOT)
    template = {f: getattr(first, f) for f in NewVersion.__dataclass_fields__ if hasattr(first, f)}
    start = time.perf_counter()
    for i in range(versions - 1):
        name = HOT if i % 3 == 0 else f"model-{1 + i % (MODELS - 1):03d}"
        fields = {**template, "name": name, "author": f"user{i % 13}"}
        fields["tags"] = {"team": f"team-{i % 7}", "tier": str(i % 3)}
        fields["metrics"] = {"auc": 0.8 + (i % 100) / 1000, "loss": 0.3 - (i % 50) / 1000}
        store.create_model_version(NewVersion(**fields))
    newest = registry.model(HOT).latest_version
    for i in range(2_000):
        registry.set_alias(HOT, ("staging", "production", "shadow")[i % 3], 1 + (i * 7) % newest, reason=f"move {i}")
    for i in range(200):
        store.record_validation(Validation(
            id=0, name=HOT, baseline_version=1, candidate_version=2 + i, baseline_sha256=first.sha256,
            candidate_sha256=first.sha256, data_sha256="0" * 64, requests=4_000, source="traffic", policy={},
            checks=({"name": "flip rate", "passed": True, "line": "pass: flip rate = 0"},), verdict="pass",
            actor="bench", at=datetime.now(UTC)))  # fmt: skip
    return time.perf_counter() - start


def serve(registry: Registry, work: Path) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    app = create_app(registry, None, work / "cache")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: server.started, 20, what="the dashboard started")
    return server, thread, url


def pages() -> list[tuple[str, str]]:
    return [
        ("models, first page", "/models"),
        ("models by name", "/models?q=model-04"),
        ("versions by tag + alias", "/models?tag=team%3Dteam-3&alias=production"),
        ("versions by author", "/models?author=user5"),
        (f"{HOT}: versions (3,334)", f"/models/{HOT}"),
        ("one version", f"/models/{HOT}/versions/2"),
        ("two versions compared", f"/models/{HOT}/compare?a=1&b=2"),
        ("aliases (2,000 moves)", f"/models/{HOT}/aliases"),
        ("validations (200)", f"/models/{HOT}/validations"),
        ("one validation", f"/models/{HOT}/validations/1"),
        ("servers", "/servers"),
        ("batch jobs", "/jobs"),
    ]


def timed(client: httpx.Client, path: str, repeat: int) -> tuple[float, float, int]:
    samples, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
        size = len(response.content)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)], size


def run(label: str, url: str, work: Path, versions: int, repeat: int) -> list[tuple[str, str, float, float, int]]:
    registry = Registry(SqlAlchemyStore(url), ArtifactStore(str(work / f"artifacts-{label}")), actor="bench")
    fill_s = fill(registry, work / "package", versions)
    print(f"{label}: {versions:,} versions filled in {fill_s:.1f} s")
    server, thread, base = serve(registry, work)
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            return [(label, name, *timed(client, path, repeat)) for name, path in pages()]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        registry.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_package(examples.mlp_onnx(work / "mlp.onnx"), work / "package", name=HOT)
        results = run("sqlite", f"sqlite:///{work / 'registry.db'}", work, args.versions, args.repeat)
        pg = os.environ.get("MODELYARD_TEST_POSTGRES_URL")
        if pg:
            with postgres_schema(pg) as pg_url:
                results += run("postgresql", pg_url, work, args.versions, args.repeat)
    print(f"\n{'database':<11} {'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'KiB':>7} {'p95 / 200 ms budget':>20}")
    for label, name, p50, p95, size in results:
        print(f"{label:<11} {name:<28} {p50:8.1f} {p95:8.1f} {size / 1024:7.0f} {p95 / BUDGET_MS:19.2f}x")


if __name__ == "__main__":
    main()
