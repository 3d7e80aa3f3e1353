"""What a worker reports about itself (per model version and per process), merged across workers, and its
rendering in Prometheus' text format with the metric schema of the design."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from modelyard.server.metrics.snapshots import (
    BATCH_SIZES,
    PROCESS,
    SECONDS,
    TRAFFIC,
    SnapshotFiles,
    merge_snapshots,
    reported_versions,
)

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
    """This worker's snapshot (its models' statistics, from `models`, its process, whether it is `ready`), shared
    with the other workers (and the registry follower) through `files`, and merged with theirs for `/metrics` and
    the statistics.

    Every `period_s` while its models' numbers change, it writes its snapshot; once they stop, it only touches
    the file (the supervisor's heartbeat) every `idle_period_s`, rewriting it whole every `refresh_s` for the
    process figures. An idle worker then wakes every few seconds for a `utime`, rather than every second for a
    /proc/PID/smaps_rollup read and a JSON write (a fifth of an idle worker's CPU, and each wake of an idle
    process costs about as much again)."""

    def __init__(
        self,
        models: Callable[[], dict[str, Any]],
        files: SnapshotFiles | None = None,
        period_s: float = 1.0,
        ready: Callable[[], bool] = lambda: True,
        refresh_s: float = 10.0,
        idle_period_s: float = 5.0,
    ) -> None:
        self.models = models
        self.files = files
        self.period_s = period_s
        self.idle_period_s = min(5.0, max(period_s, idle_period_s))
        self.ready = ready
        self.refresh_s = refresh_s
        self.process = psutil.Process()
        self._task: asyncio.Task[None] | None = None
        self._written: tuple[dict[str, Any], bool] | None = None
        self._written_at = float("-inf")

    def live(self) -> dict[str, Any]:
        return self._with_process(self.models(), self.ready())

    def _with_process(self, snapshot: dict[str, Any], ready: bool) -> dict[str, Any]:
        cpu = self.process.cpu_times()
        process = {"cpu_seconds": cpu.user + cpu.system, **memory_bytes(self.process), "ready_workers": int(ready)}
        return {**snapshot, PROCESS: process}

    def merged(self) -> dict[str, Any]:
        return merge_snapshots([self.live(), *(self.files.others() if self.files else [])])

    def share(self, now: float) -> bool:
        """One period's step: write the snapshot (True) or only beat. `now`: a monotonic clock's reading."""
        assert self.files is not None
        state = (self.models(), self.ready())
        if state != self._written or now - self._written_at >= self.refresh_s:
            self.files.write(self._with_process(*state))
            self._written, self._written_at = state, now
            return True
        self.files.beat()
        return False

    def start(self) -> None:
        if self.files is not None:
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        assert self.files is not None
        while True:
            wrote = False
            try:
                wrote = self.share(time.monotonic())
            except OSError:  # a full disk: the heartbeat, which the supervisor reads, may still get through
                with contextlib.suppress(OSError):
                    self.files.beat()
            await asyncio.sleep(self.period_s if wrote else self.idle_period_s)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.files is not None:
            self.files.remove()


class ServerCollector:
    """A prometheus-client collector over merged snapshots; registered on a registry the app owns."""

    def __init__(
        self,
        source: Callable[[], dict[str, Any]],
        drift: Callable[[dict[str, Any]], list[tuple[str, str, Any]]] | None = None,
    ) -> None:
        self.source = source
        self.drift = drift  # the merged snapshot -> (model, version, a FeatureDrift) of the versions with a reference

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
        versions = list(reported_versions(snapshot).values())
        for model in sorted(versions, key=lambda m: (m["name"], m["version"])):
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
        violations = CounterMetricFamily("modelyard_input_violations", "Inputs outside what the version's reference "
                                         "saw, by feature and rule (range, missing, domain).",
                                         labels=[*labels, "feature", "rule"])  # fmt: skip
        cold = SummaryMetricFamily("modelyard_cold_start_seconds", "Loads from zero on a request (serve "
                                   "--idle-unload), from the request to its answer.", labels=labels)  # fmt: skip
        shadow = {
            "sent": CounterMetricFamily("modelyard_shadow_sent", "Requests sent to a shadow's candidate, in its "
                                        "process at the lowest priority.", labels=labels),
            "dropped": CounterMetricFamily("modelyard_shadow_dropped", "Shadowed requests dropped, never slowing "
                                           "production: its pipe or its queue was full, or its process gone.",
                                           labels=labels),
        }  # fmt: skip
        for model in versions:
            for field, counter in shadow.items() if "shadow" in model else ():
                counter.add_metric([model["name"], model["version"]], model["shadow"][field])
            if model.get("cold_starts"):
                cold.add_metric([model["name"], model["version"]], model["cold_starts"], model["cold_start_seconds"])
            for feature, rules in sorted(model.get("violations", {}).items()):
                for rule, count in sorted(rules.items()):
                    violations.add_metric([model["name"], model["version"], feature, rule], count)
        yield requests
        yield inferences
        yield violations
        yield cold
        yield from shadow.values()
        yield from gauges.values()
        yield from (family for family, _, _ in histograms)
        if self.drift is not None:
            yield from drift_gauges(self.drift(snapshot))
        traffic = snapshot.get(TRAFFIC, {})
        yield CounterMetricFamily("modelyard_traffic_logged", "Requests written to the traffic log.",
                                  value=traffic.get("logged", 0))  # fmt: skip
        yield CounterMetricFamily("modelyard_traffic_dropped", "Sampled requests dropped: the log's buffer was full.",
                                  value=traffic.get("dropped", 0))  # fmt: skip
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


def drift_gauges(verdicts: list[tuple[str, str, Any]]) -> Iterator[Metric]:
    labels = ["model", "version", "feature"]
    drift = GaugeMetricFamily("modelyard_feature_drift", "1: the feature drifted from the version's reference; "
                              "0: it did not; NaN: not enough traffic yet to say.", labels=labels)  # fmt: skip
    psi = GaugeMetricFamily("modelyard_feature_psi", "The feature's population stability index against the "
                            "reference, over the traffic since the version was loaded.", labels=labels)  # fmt: skip
    for model, version, f in verdicts:
        drift.add_metric([model, version, f.name], {True: 1.0, False: 0.0, None: float("nan")}[f.drift])
        if f.effect is not None:
            psi.add_metric([model, version, f.name], f.effect)
    yield drift
    yield psi
