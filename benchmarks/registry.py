"""Registry latency: register, resolve @alias, list a page, search among N versions; SQLite and PostgreSQL.

Each figure is also printed as a ratio to the floor of any registry call on the same database: one primary-key
SELECT through the same engine (`raw pk read`). PostgreSQL runs when MODELYARD_TEST_POSTGRES_URL is set.

    .venv/bin/python benchmarks/registry.py [--versions 10000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from modelyard import examples
from modelyard.packaging import build_package
from modelyard.registry import ArtifactStore, Registry, VersionFilter
from modelyard.registry.entities import NewVersion
from modelyard.registry.sql import SqlAlchemyStore
from modelyard.registry.sql.models import RegisteredModelRow
from modelyard.testing import postgres_schema

MODELS = 100


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and p95 in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run(label: str, url: str, work: Path, versions: int, repeat: int) -> list[tuple[str, str, float, float]]:
    store = SqlAlchemyStore(url)
    registry = Registry(store, ArtifactStore(str(work / f"artifacts-{label}")), actor="bench")
    package = work / "package"
    first = registry.register(package, name="model-000")
    template = {f: getattr(first, f) for f in NewVersion.__dataclass_fields__ if hasattr(first, f)}
    start = time.perf_counter()
    for i in range(versions - 1):
        fields = {**template, "name": f"model-{(i + 1) % MODELS:03d}", "author": f"user{i % 13}"}
        fields["tags"] = {"team": f"team-{i % 7}", "tier": str(i % 3)}
        store.create_model_version(NewVersion(**fields))
    fill_s = time.perf_counter() - start
    registry.set_alias("model-042", "production", 1, reason="bench")

    with store.engine.connect() as conn:
        raw = timed(
            lambda: conn.execute(select(RegisteredModelRow.name).where(RegisteredModelRow.name == "model-042")).all(),
            repeat,
        )
    rows = [
        ("raw pk read", *raw),
        (
            "register (validate + store)",
            *timed(lambda: registry.register(package, name="model-007"), max(10, repeat // 10)),
        ),
        ("resolve models:/m@production", *timed(lambda: registry.get("models:/model-042@production"), repeat)),
        ("get models:/m/1", *timed(lambda: registry.get("models:/model-042/1"), repeat)),
        ("list a page of 100 versions", *timed(lambda: registry.search(page_size=100), repeat)),
        (
            "search tag team=team-3, page 100",
            *timed(lambda: registry.search(VersionFilter(tags={"team": "team-3"})), repeat),
        ),
        (
            "search author + name, page 100",
            *timed(lambda: registry.search(VersionFilter(name="model-042", author="user5")), repeat),
        ),
        ("list models, page of 100", *timed(lambda: registry.list_models(page_size=100), repeat)),
    ]
    registry.close()
    print(
        f"\n{label}: {versions:,} versions of {MODELS} models filled in {fill_s:.1f} s "
        f"({fill_s / versions * 1000:.2f} ms per version row)"
    )
    return [(label, name, p50, p95) for name, p50, p95 in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_package(examples.mlp_onnx(work / "mlp.onnx"), work / "package", name="model-000")
        results = run("sqlite", f"sqlite:///{work / 'registry.db'}", work, args.versions, args.repeat)
        pg = os.environ.get("MODELYARD_TEST_POSTGRES_URL")
        if pg:
            with postgres_schema(pg) as url:
                results += run("postgresql", url, work, args.versions, args.repeat)
    print(f"\n{'database':<11} {'operation':<36} {'p50 ms':>8} {'p95 ms':>8} {'p50 / raw pk read':>18}")
    floor = {label: p50 for label, name, p50, _ in results if name == "raw pk read"}
    for label, name, p50, p95 in results:
        print(f"{label:<11} {name:<36} {p50:8.3f} {p95:8.3f} {p50 / floor[label]:17.1f}x")


if __name__ == "__main__":
    main()
