"""`modelyard profile`: which serving configuration gives the most throughput within a latency budget, and the
capacity an autoscaler should plan with. The sweep and the choices are pure; measuring is passed in."""

from __future__ import annotations

import itertools
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from modelyard.bench.runner import Level


@dataclass(frozen=True)
class Config:
    max_batch_size: int
    max_queue_delay_us: int
    instances: int
    intra_op_threads: int
    omp_threads: int | None = None

    def serve_args(self) -> list[str]:
        return [
            "--max-batch-size", str(self.max_batch_size),
            "--max-queue-delay-us", str(self.max_queue_delay_us),
            "--instances", str(self.instances),
            "--intra-op-threads", str(self.intra_op_threads),
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {} if self.omp_threads is None else {"OMP_NUM_THREADS": str(self.omp_threads)}

    @property
    def label(self) -> str:
        omp = f" omp={self.omp_threads}" if self.omp_threads is not None else ""
        batching = (
            f"batch={self.max_batch_size} delay={self.max_queue_delay_us}us" if self.max_batch_size else "no batching"
        )
        return f"{batching} inst={self.instances} threads={self.intra_op_threads}{omp}"


def sweep(
    batch_sizes: list[int],
    delays_us: list[int],
    instances: list[int],
    threads: list[int],
    omp_threads: list[int | None] | None = None,
) -> list[Config]:
    """Every combination; without batching (`max_batch_size` 0) the queue delay means nothing, so only one."""
    configs = []
    for batch, delay, inst, thr, omp in itertools.product(
        batch_sizes, delays_us, instances, threads, omp_threads or [None]
    ):
        config = Config(batch, delay if batch else 0, inst, thr, omp)
        if config not in configs:
            configs.append(config)
    return configs


def ramp(measure_at: Callable[[int], Level], concurrencies: list[int], p99_budget_ms: float) -> list[Level]:
    """Raise the concurrency until throughput stops improving (under 5 % better than the best, twice in a row) or
    p99 leaves the budget: beyond either point more load only adds queueing."""
    levels: list[Level] = []
    best, flat = 0.0, 0
    for concurrency in concurrencies:
        level = measure_at(concurrency)
        levels.append(level)
        if level.summary.p99_ms > p99_budget_ms:
            break
        if level.summary.throughput < best * 1.05:
            flat += 1
            if flat == 2:
                break
        else:
            flat = 0
        best = max(best, level.summary.throughput)
    return levels


def best_within(levels: list[Level], p99_budget_ms: float) -> Level | None:
    inside = [lv for lv in levels if lv.summary.p99_ms <= p99_budget_ms and lv.summary.errors == 0]
    return max(inside, key=lambda lv: lv.summary.throughput, default=None)


def choose(
    results: list[tuple[Config, list[Level]]], p99_budget_ms: float, min_throughput: float = 0.0
) -> tuple[Config, Level] | None:
    """The configuration with the most throughput within the budget; among those above `min_throughput`, when
    several are, the one with the lowest p99 (a throughput floor asks for speed first, headroom after)."""
    candidates = [(c, lv) for c, levels in results if (lv := best_within(levels, p99_budget_ms)) is not None]
    if min_throughput > 0:
        enough = [(c, lv) for c, lv in candidates if lv.summary.throughput >= min_throughput]
        return min(enough, key=lambda x: x[1].summary.p99_ms, default=None)
    return max(candidates, key=lambda x: x[1].summary.throughput, default=None)


def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def curves(results: list[tuple[Config, list[Level]]]) -> list[dict[str, Any]]:
    """Each configuration's ramp as (concurrency, throughput req/s, p99 ms) points, for the card's plot."""
    return [
        {"config": c.label,
         "points": [[lv.load, round(lv.summary.throughput, 1), round(lv.summary.p99_ms, 3)] for lv in levels]}
        for c, levels in results
    ]  # fmt: skip


def perf_card(config: Config, level: Level, p99_budget_ms: float, headroom: float) -> dict[str, Any]:
    s = level.summary
    return {
        "config": asdict(config),
        "serve_args": config.serve_args(),
        "p99_budget_ms": p99_budget_ms,
        "concurrency": level.load,
        "throughput_rps": round(s.throughput, 1),
        "p50_ms": round(s.p50_ms, 3),
        "p99_ms": round(s.p99_ms, 3),
        "memory_mib": round(level.server.pss_mib, 1) if level.server else None,  # PSS: shared pages once
        "memory_rss_mib": round(level.server.rss_mib, 1) if level.server else None,
        "capacity_rps": round(s.throughput * headroom, 1),
        "headroom": headroom,
        "machine": machine(),
    }


def autoscaler_snippets(deployment: str, model: str, capacity_rps: float) -> str:
    """A KEDA ScaledObject (Prometheus trigger on the server's request counter) and the plain HPA equivalent
    (per-pod metric through the Prometheus adapter). Each pod is asked to carry `capacity_rps`."""
    target = max(1, int(capacity_rps))
    query = f'sum(rate(modelyard_requests_total{{model="{model}"}}[1m]))'
    return f"""# KEDA: scale {deployment} so that each pod carries about {target} requests/s
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {deployment}
spec:
  scaleTargetRef:
    name: {deployment}
  minReplicaCount: 1
  triggers:
    - type: prometheus
      metadata:
        serverAddress: http://prometheus.monitoring:9090
        query: '{query}'
        threshold: "{target}"
---
# HPA (with prometheus-adapter exposing modelyard_requests_per_second per pod)
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {deployment}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {deployment}
  minReplicas: 1
  maxReplicas: 20
  metrics:
    - type: Pods
      pods:
        metric:
          name: modelyard_requests_per_second
        target:
          type: AverageValue
          averageValue: "{target}"
"""


def still_rising(levels: list[Level], chosen: Level) -> bool:
    """The choice is the top of its ramp and throughput still rose to it (5 % or more): the ramp ran out of
    concurrencies before the server ran out of capacity, which may then be underestimated."""
    if not levels or levels[-1] is not chosen:
        return False
    return len(levels) == 1 or chosen.summary.throughput >= 1.05 * levels[-2].summary.throughput


def figure(
    results: list[tuple[Config, list[Level]]],
    p99_budget_ms: float,
    chosen: tuple[Config, Level] | None = None,
    title: str = "",
) -> Any:
    """p99 latency against throughput: a line per configuration, each point labelled with its concurrency, the
    choice marked, the budget drawn (or named, when it lies far above every point, rather than squeezing them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig, ax = plt.subplots(figsize=(9, 5.5))
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    highest = 0.0
    for config, levels in results:
        xs = [lv.summary.throughput for lv in levels]
        ys = [lv.summary.p99_ms for lv in levels]
        highest = max([highest, *ys])
        (line,) = ax.plot(xs, ys, marker="o", markersize=4, label=config.label)
        for x, y, lv in zip(xs, ys, levels, strict=True):
            ax.annotate(f"c={lv.load:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=6,
                        color=line.get_color())  # fmt: skip
    if chosen is not None:
        config, level = chosen
        ax.plot([level.summary.throughput], [level.summary.p99_ms], marker="*", markersize=16, color="black",
                linestyle="none", label=f"recommended: {config.label}", zorder=5)  # fmt: skip
    top = highest * 1.6 if highest else p99_budget_ms * 1.1
    if p99_budget_ms <= top * 1.5:
        ax.axhline(p99_budget_ms, color="red", linestyle="--", label=f"p99 budget {p99_budget_ms:g} ms")
        top = max(top, p99_budget_ms * 1.3)
    else:
        ax.text(0.01, 0.98, f"p99 budget {p99_budget_ms:g} ms: above every point", transform=ax.transAxes,
                color="red", fontsize=8, va="top")  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(top=top)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    ax.set_xlabel("throughput (requests/s)")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot(
    results: list[tuple[Config, list[Level]]],
    p99_budget_ms: float,
    path: Any,
    chosen: tuple[Config, Level] | None = None,
    title: str = "",
) -> bool:
    """`figure` written to `path` as PNG; False when matplotlib is not installed."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig = figure(results, p99_budget_ms, chosen, title)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
