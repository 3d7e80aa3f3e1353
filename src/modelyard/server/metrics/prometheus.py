"""What a worker reports about itself (per model version and per process), merged across workers, and its
rendering in Prometheus' text format with the metric schema of the design."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from modelyard.server.metrics.snapshots import BATCH_SIZES, SECONDS, SnapshotFiles, merge_snapshots

PROCESS = "__process__"
HISTOGRAMS = (
    ("modelyard_request_duration_seconds", "request_seconds", SECONDS, "Time from decoded request to response."),
    ("modelyard_queue_duration_seconds", "queue_seconds", SECONDS, "Time a request waited for an instance."),
    ("modelyard_compute_duration_seconds", "compute_seconds", SECONDS, "Time a batch spent in the runtime."),
    ("modelyard_batch_size", "batch_size", BATCH_SIZES, "Rows per batch sent to the runtime."),
)


def memory_bytes(process: psutil.Process) -> dict[str, int]:
    """Resident and proportional memory. Forked workers share most of their pages: RSS counts a shared page in
    every process that maps it, PSS splits it among them, so the workers' PSS adds up to what they hold together
    (what a container's memory limit is charged for). Where there is no PSS (not Linux), RSS stands in."""
    if psutil.LINUX:
        full = process.memory_full_info()  # /proc/PID/smaps_rollup: about 0.6 ms, once a second
        return {"rss_bytes": full.rss, "pss_bytes": full.pss}
    rss = process.memory_info().rss
    return {"rss_bytes": rss, "pss_bytes": rss}


class WorkerTelemetry:
    """This worker's snapshot (its models' statistics, from `models`, and its process), shared with the other
    workers through `files` every `period_s`, and merged with theirs for `/metrics` and the statistics."""

    def __init__(
        self, models: Callable[[], dict[str, Any]], files: SnapshotFiles | None = None, period_s: float = 1.0
    ) -> None:
        self.models = models
        self.files = files
        self.period_s = period_s
        self.process = psutil.Process()
        self._task: asyncio.Task[None] | None = None

    def live(self) -> dict[str, Any]:
        snapshot = self.models()
        cpu = self.process.cpu_times()
        snapshot[PROCESS] = {"cpu_seconds": cpu.user + cpu.system, **memory_bytes(self.process)}
        return snapshot

    def merged(self) -> dict[str, Any]:
        return merge_snapshots([self.live(), *(self.files.others() if self.files else [])])

    def start(self) -> None:
        if self.files is not None:
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        assert self.files is not None
        while True:
            with contextlib.suppress(OSError):
                self.files.write(self.live())
            with contextlib.suppress(OSError):
                self.files.beat()  # even where the write failed (a full disk): the supervisor reads it
            await asyncio.sleep(self.period_s)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.files is not None:
            self.files.remove()


class ServerCollector:
    """A prometheus-client collector over merged snapshots; registered on a registry the app owns."""

    def __init__(self, source: Callable[[], dict[str, Any]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        snapshot = self.source()
        labels = ["model", "version"]
        requests = CounterMetricFamily("modelyard_requests", "Requests by outcome.", labels=[*labels, "outcome"])
        inferences = CounterMetricFamily("modelyard_inferences", "Rows inferred.", labels=labels)
        gauges = {
            "queue_depth": GaugeMetricFamily("modelyard_queue_depth", "Requests waiting.", labels=labels),
            "instances": GaugeMetricFamily("modelyard_instances", "Model instances.", labels=labels),
            "loaded": GaugeMetricFamily("modelyard_model_loaded", "1 when loaded.", labels=labels),
        }
        histograms = [
            (HistogramMetricFamily(name, text, labels=labels), key, bounds) for name, key, bounds, text in HISTOGRAMS
        ]
        for key, model in sorted(snapshot.items()):
            if key == PROCESS:
                continue
            values = [model["name"], model["version"]]
            requests.add_metric([*values, "success"], model["success"]["count"])
            requests.add_metric([*values, "error"], model["fail"]["count"])
            inferences.add_metric(values, model["inference_count"])
            for field, gauge in gauges.items():
                gauge.add_metric(values, model[field])
            for family, field, bounds in histograms:
                counts, running, buckets = model[field]["counts"], 0, []
                for bound, count in zip((*bounds, float("inf")), counts, strict=True):
                    running += count
                    buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
                family.add_metric(values, buckets, sum_value=model[field]["total"])
        yield requests
        yield inferences
        yield from gauges.values()
        yield from (family for family, _, _ in histograms)
        process = snapshot.get(PROCESS, {})
        yield CounterMetricFamily("modelyard_process_cpu_seconds", "CPU time of the serving processes.",
                                  value=process.get("cpu_seconds", 0.0))  # fmt: skip
        yield GaugeMetricFamily("modelyard_process_resident_memory_bytes", "Resident memory of the serving processes.",
                                value=process.get("rss_bytes", 0))  # fmt: skip
        yield GaugeMetricFamily("modelyard_process_proportional_memory_bytes",
                                "Proportional set size of the serving processes: pages they share counted once.",
                                value=process.get("pss_bytes", 0))  # fmt: skip


def prometheus_text(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
