"""Metrics and statistics: histograms and merging (pure), /metrics on a live server, and a two-worker server
whose /stats and /metrics add up to every request it served."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelyard.server.dataplane import DataPlane
from modelyard.server.metrics.snapshots import SHADOWS, Histogram, merge_snapshots, model_entries, reported_versions
from modelyard.server.models.manager import ModelManager
from modelyard.server.process.scaler import busy_ns
from modelyard.testing import Server, start_server, stop_server, wait_until

ROW = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [0.1] * 32}]}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_shadows_candidate_is_reported_but_not_counted_as_production_load() -> None:
    own = {"name": "m", "version": "3", "success": {"count": 2, "ns": 10}, "fail": {"count": 0, "ns": 0}, "loaded": 1}
    shadowed = {"name": "m", "version": "3", "success": {"count": 5, "ns": 70}, "loaded": 0}
    alone = {"name": "m", "version": "4", "success": {"count": 1, "ns": 9}, "loaded": 1}
    snapshot = {"m/3": own, SHADOWS: {"m/3": shadowed, "m/4": alone}}
    assert model_entries(snapshot) == [own]  # the scaler and the follower: production's versions only
    assert busy_ns(snapshot) == 10
    reported = reported_versions(snapshot)
    assert reported["m/3"]["success"] == {"count": 7, "ns": 80}  # its own callers' and the shadow's, added
    assert reported["m/3"]["loaded"] == 1
    assert reported["m/4"] == alone
    assert reported_versions({"m/3": own}) == {"m/3": own}


def test_histogram_buckets_and_merge() -> None:
    h = Histogram((0.001, 0.01))
    for value in (0.0005, 0.001, 0.002, 5.0):
        h.observe(value)
    assert h.counts == [2, 1, 1]
    assert h.count == 4
    a = {
        "m/1": {
            "name": "m",
            "success": {"count": 2, "ns": 10},
            "last_inference_ms": 5,
            "loaded": 1,
            "h": {"counts": [1, 0], "total": 0.5},
            "batches": {"1": {"count": 2, "ns": 10}},
        }
    }
    b = {"m/1": {"name": "m", "success": {"count": 3, "ns": 7}, "last_inference_ms": 9, "loaded": 1,
                 "h": {"counts": [0, 2], "total": 1.5}, "batches": {"4": {"count": 1, "ns": 3}}}}  # fmt: skip
    merged = merge_snapshots([a, b])["m/1"]
    assert merged["success"] == {"count": 5, "ns": 17}
    assert merged["last_inference_ms"] == 9
    assert merged["loaded"] == 1
    assert merged["h"] == {"counts": [1, 2], "total": 2.0}
    assert merged["batches"] == {"1": {"count": 2, "ns": 10}, "4": {"count": 1, "ns": 3}}
    assert a["m/1"]["success"] == {"count": 2, "ns": 10}  # inputs untouched


def test_each_data_plane_has_its_own_collectors() -> None:
    first, second = DataPlane(ModelManager()), DataPlane(ModelManager())
    assert first.collectors is not second.collectors
    assert b"modelyard_process_resident_memory_bytes" in first.metrics_text()


def test_metrics_endpoint_on_a_live_server(server: Server) -> None:
    def count() -> float:
        text = httpx.get(f"{server.url}/metrics").text
        key = ("modelyard_requests_total", (("model", "tabular"), ("outcome", "success"), ("version", "1")))
        return samples(text).get(key, 0.0)

    before = count()
    for _ in range(5):
        assert httpx.post(f"{server.url}/v2/models/tabular/infer", json=ROW).status_code == 200
    assert count() == before + 5
    text = httpx.get(f"{server.url}/metrics").text
    found = samples(text)
    labels = (("model", "tabular"), ("version", "1"))
    for name in ("modelyard_request_duration_seconds_count", "modelyard_queue_duration_seconds_count",
                 "modelyard_compute_duration_seconds_count", "modelyard_batch_size_count"):  # fmt: skip
        assert found[(name, labels)] >= 5, name
    assert found[("modelyard_model_loaded", labels)] == 1
    assert found[("modelyard_process_resident_memory_bytes", ())] > 0


@pytest.mark.e2e
def test_two_workers_report_as_one(tmp_path: Path, model_folder: Path) -> None:
    server = start_server([str(model_folder / "tabular"), "--workers", "2"], tmp_path / "home")
    try:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(40):
                assert client.post("/v2/models/tabular/infer", json=ROW).status_code == 200
        key = ("modelyard_requests_total", (("model", "tabular"), ("outcome", "success"), ("version", "1")))

        def totals() -> list[float]:
            """Both endpoints, four times each on new connections (either worker may answer)."""
            found = []
            for _ in range(4):
                stats = httpx.get(f"{server.url}/v2/models/tabular/stats").json()["model_stats"][0]
                found.append(stats["inference_stats"]["success"]["count"])
                found.append(samples(httpx.get(f"{server.url}/metrics").text)[key])
            return found

        # Snapshots are shared once a second, so a worker that served nothing sees the other's 40 up to a second
        # late: ask again until every answer, from either worker, agrees.
        wait_until(lambda: totals() == [40] * 8, 10, 0.2, what="both workers reporting 40 requests")
        found = samples(httpx.get(f"{server.url}/metrics").text)
        resident = found[("modelyard_process_resident_memory_bytes", ())]
        proportional = found[("modelyard_process_proportional_memory_bytes", ())]
        if sys.platform == "linux":  # elsewhere there is no PSS and RSS stands in
            # The workers share the pages of the stack imported before the fork: counted once, they hold less.
            assert 0 < proportional < 0.8 * resident
    finally:
        stop_server(server)
