"""Load levels as a Rich table, CSV rows and JSON."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.table import Table

from modelyard.bench.runner import Level

COLUMNS = [
    "load", "req/s", "p50", "p90", "p95", "p99", "errors",
    "queue", "compute", "batch", "cpu%", "MiB", "gen_us", "stable",
]  # fmt: skip
UNITS = (
    "latencies, queue (per request) and compute (per batch) in ms; cpu% and MiB (PSS: pages shared by its "
    "processes counted once): the server; gen_us: generator"
)


def level_row(level: Level) -> dict[str, Any]:
    s, srv = level.summary, level.server
    load = f"c={level.load:g}" if level.mode == "closed" else f"{level.load:g}/s"
    return {
        "load": load,
        "req/s": round(s.throughput, 1),
        "p50": round(s.p50_ms, 3),
        "p90": round(s.p90_ms, 3),
        "p95": round(s.p95_ms, 3),
        "p99": round(s.p99_ms, 3),
        "errors": s.errors,
        "queue": round(srv.queue_ms, 3) if srv else "",
        "compute": round(srv.compute_ms, 3) if srv else "",
        "batch": round(srv.batch_size, 2) if srv else "",
        "cpu%": round(srv.cpu_percent) if srv else "",
        "MiB": round(srv.pss_mib, 1) if srv else "",
        "gen_us": round(level.generator_us, 1),
        "stable": "yes" if level.stable else "no",
    }


def table(levels: Iterable[Level], title: str) -> Table:
    t = Table(*COLUMNS, title=title, caption=UNITS, title_justify="left", caption_justify="left")
    for level in levels:
        t.add_row(*(str(v) for v in level_row(level).values()))
    return t


def as_json(level: Level) -> dict[str, Any]:
    return dataclasses.asdict(level)


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(value: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, default=str))
    return path
