"""What production answered, read from the servers' own `/metrics`: the gate's watch after a promotion.

The servers count every request, where the traffic log holds only the sampled share (and nothing at all unless
`--log-sample` is on), so the watch reads their counters: requests by outcome and the request-duration histogram,
per version, summed over the live servers that discovery lists for the model. A server counts a version from the
moment it loads it, and a version the follower unloads takes its counters with it; so the gate reads the previous
version's figures just before it promotes, keeps them in the alias event's evidence (a gate restarted mid-watch
still has them), and judges the new version's counters, which began when the servers loaded it.

Pure but for `scrape`: the text in, counts out; p99 from the histogram as Prometheus' `histogram_quantile` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "modelyard_requests"
DURATION = "modelyard_request_duration_seconds"


@dataclass(frozen=True)
class Served:
    """What one version answered over a window: requests, failures, p99 latency (µs)."""

    requests: int
    errors: int
    p99_us: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Counts:
    """One version's counters: requests that succeeded and failed, and the duration histogram's cumulative
    buckets, (upper bound in seconds, requests at or under it), the last bound infinite."""

    ok: int = 0
    errors: int = 0
    buckets: tuple[tuple[float, float], ...] = ()

    def __add__(self, other: Counts) -> Counts:
        if not self.buckets or not other.buckets:
            buckets = self.buckets or other.buckets
        else:
            buckets = tuple((b, n + m) for (b, n), (_, m) in zip(self.buckets, other.buckets, strict=True))
        return Counts(self.ok + other.ok, self.errors + other.errors, buckets)

    def served(self) -> Served:
        return Served(self.ok + self.errors, self.errors, quantile(0.99, self.buckets) * 1e6)


def quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float:
    """The q-quantile of a cumulative histogram, interpolated linearly within its bucket; a quantile in the
    infinite bucket is the largest finite bound (what `histogram_quantile` returns)."""
    if not buckets or buckets[-1][1] <= 0:
        return 0.0
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


Key = tuple[str, str]  # (model, version)


def version_counts(families: Iterable[Metric]) -> dict[Key, Counts]:
    """The counts of every (model, version) in one server's parsed `/metrics` (the gate's watch reads one model's,
    the dashboard's live charts every model's)."""
    ok: dict[Key, int] = {}
    errors: dict[Key, int] = {}
    buckets: dict[Key, list[tuple[float, float]]] = {}
    for family in families:
        if family.name not in (REQUESTS, DURATION):
            continue
        for sample in family.samples:
            labels = sample.labels
            if "model" not in labels:
                continue
            key = (labels["model"], labels.get("version", ""))
            if family.name == REQUESTS and sample.name == REQUESTS + "_total":
                into = ok if labels.get("outcome") == "success" else errors
                into[key] = into.get(key, 0) + int(sample.value)
            elif family.name == DURATION and sample.name == DURATION + "_bucket":
                buckets.setdefault(key, []).append((float(labels["le"]), float(sample.value)))
    keys = set(ok) | set(errors) | set(buckets)
    return {k: Counts(ok.get(k, 0), errors.get(k, 0), tuple(sorted(buckets.get(k, [])))) for k in keys}


def parse(text: str, name: str) -> dict[str, Counts]:
    """One server's `/metrics`: the counts of each version of model `name`."""
    found = version_counts(text_string_to_metric_families(text))
    return {version: c for (model, version), c in found.items() if model == name}


def merged(servers: Iterable[Mapping[str, Counts]]) -> dict[str, Counts]:
    total: dict[str, Counts] = {}
    for counts in servers:
        for version, c in counts.items():
            total[version] = total[version] + c if version in total else c
    return total


def scrape(urls: Iterable[str], name: str, timeout_s: float = 2.0) -> tuple[dict[str, Counts], list[str]]:
    """The counts of `name`'s versions summed over the servers at `urls`, and the servers that did not answer
    (a server down for a moment must not stop the watch, nor be taken for zero traffic without a word)."""
    import httpx

    found: list[dict[str, Counts]] = []
    missed: list[str] = []
    for url in urls:
        try:
            response = httpx.get(f"{url.rstrip('/')}/metrics", timeout=timeout_s)
            response.raise_for_status()
        except httpx.HTTPError:
            missed.append(url)
            continue
        found.append(parse(response.text, name))
    return merged(found), missed


def as_evidence(served: Served) -> dict[str, Any]:
    return {"requests": served.requests, "errors": served.errors, "p99_us": served.p99_us, "source": "metrics"}


def from_evidence(fields: Mapping[str, Any]) -> Served | None:
    """The figures a promotion kept of the version before it, or None where it kept none (an older gate's)."""
    if fields.get("source") != "metrics":
        return None
    return Served(int(fields["requests"]), int(fields["errors"]), float(fields["p99_us"]))
