"""`modelyard bench` and `modelyard profile` as a user runs them, on a real server they start themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelyard.registry import Registry
from modelyard.settings import Settings
from modelyard.testing import assert_one_line_error
from modelyard.testing import run_cli as run

FAST = ["--window-s", "0.3", "--max-windows", "3"]


def test_bench_closed_and_open_loop(tmp_path: Path, mlp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run(tmp_path / "home", "bench", str(mlp_path), "--concurrency", "2", "--rate", "100", *FAST,
               "--output", str(out))  # fmt: skip
    levels = json.loads(out.read_text())
    assert [(lv["mode"], lv["load"]) for lv in levels] == [("closed", 2), ("open", 100)]
    assert all(lv["summary"]["errors"] == 0 and lv["summary"]["requests"] > 10 for lv in levels)
    assert all(lv["server"]["cpu_percent"] > 0 for lv in levels)
    assert all(0 < lv["server"]["pss_mib"] <= lv["server"]["rss_mib"] for lv in levels)  # shared pages once
    assert "c=2" in proc.stdout
    assert out.with_suffix(".csv").read_text().startswith("load,req/s,p50")


def test_bench_refuses_bad_loads_and_unknown_models(tmp_path: Path, mlp_path: Path) -> None:
    proc = run(tmp_path / "home", "bench", str(mlp_path), "--concurrency", "1,x", ok=False)
    assert_one_line_error(proc, 2, "--concurrency '1,x'")
    proc = run(tmp_path / "home", "bench", "nothing@production", ok=False)
    assert_one_line_error(proc, 6, "could not serve nothing@production: model 'nothing' is not registered")


def test_profile_records_the_card_and_prints_the_capacity(tmp_path: Path, mlp_path: Path) -> None:
    home = tmp_path / "home"
    with Registry.from_settings(Settings(home=home)) as registry:
        registry.register(mlp_path, name="scorer")
    out = tmp_path / "profile"
    proc = run(home, "profile", "scorer/1", "--p99-ms", "1000", "--max-batch-size", "0,8", "--max-queue-delay-us",
               "0", "--instances", "1", "--concurrency", "1,2", *FAST, "--out", str(out))  # fmt: skip
    assert {p.name for p in out.iterdir()} == {"profile.csv", "profile.json", "profile.png"}
    document = json.loads((out / "profile.json").read_text())
    assert len(document["results"]) == 2
    with Registry.from_settings(Settings(home=home)) as registry:
        card = registry.get("scorer/1").perf_card
    assert card is not None
    assert card == document["recommended"]
    assert card["capacity_rps"] == pytest.approx(card["throughput_rps"] * 0.7, abs=0.2)
    assert 0 < card["memory_mib"] <= card["memory_rss_mib"]
    assert 0 < card["cold_start_s"] < card["startup_s"]  # from zero in a running server: a load, not a start
    assert 0 < card["startup_s"] < 120  # start to ready of the chosen configuration (deploy k8s sizes probes by it)
    assert "kind: ScaledObject" in proc.stdout
    assert f'threshold: "{int(card["capacity_rps"])}"' in proc.stdout
    assert "modelyard serve scorer/1 --max-batch-size" in proc.stdout
    shown = run(home, "models", "show", "scorer/1").stdout
    assert f"capacity {card['capacity_rps']} req/s" in shown
