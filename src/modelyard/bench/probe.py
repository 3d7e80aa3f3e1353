"""What the server says about a run: its /metrics before and after (queue vs compute time, CPU, memory), and the
GPU through NVML when there is one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, model: str) -> dict[str, float]:
    """Sums of the server's counters for one model (every version), and its process figures."""
    text = httpx.get(f"{url}/metrics", timeout=5, trust_env=False).text
    wanted = {
        "modelyard_queue_duration_seconds_sum": "queue_s",
        "modelyard_queue_duration_seconds_count": "queued",
        "modelyard_compute_duration_seconds_sum": "compute_s",
        "modelyard_compute_duration_seconds_count": "batches",
        "modelyard_inferences_total": "rows",
        "modelyard_process_cpu_seconds_total": "cpu_s",
        "modelyard_process_resident_memory_bytes": "rss_bytes",
        "modelyard_process_proportional_memory_bytes": "pss_bytes",
    }
    out = dict.fromkeys(wanted.values(), 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = wanted.get(sample.name)
            if key and sample.labels.get("model", model) == model:
                out[key] += sample.value
    return out


@dataclass(frozen=True)
class ServerSide:
    queue_ms: float  # mean wait per request for an instance
    compute_ms: float  # mean runtime time per batch
    batch_size: float  # mean rows per batch
    cpu_percent: float  # of one core, all serving processes
    rss_mib: float
    pss_mib: float  # shared pages counted once: what several forked workers hold together


def server_side(before: dict[str, float], after: dict[str, float], seconds: float) -> ServerSide:
    d = {k: after[k] - before[k] for k in before}
    return ServerSide(
        queue_ms=1e3 * d["queue_s"] / d["queued"] if d["queued"] else 0.0,
        compute_ms=1e3 * d["compute_s"] / d["batches"] if d["batches"] else 0.0,
        batch_size=d["rows"] / d["batches"] if d["batches"] else 0.0,
        cpu_percent=100 * d["cpu_s"] / seconds if seconds else 0.0,
        rss_mib=after["rss_bytes"] / (1 << 20),
        pss_mib=after["pss_bytes"] / (1 << 20),
    )


def gpu() -> dict[str, Any] | None:
    """Utilisation and memory of each GPU (nvidia-ml-py), or None without one."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        devices = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            util = pynvml.nvmlDeviceGetUtilizationRates(handle)
            devices.append({"index": i, "util_percent": util.gpu, "memory_mib": memory.used / (1 << 20)})
        return {"devices": devices}
    finally:
        pynvml.nvmlShutdown()
