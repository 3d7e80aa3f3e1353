"""The servers page's live figures, from two readings of a server's own `/metrics`.

A server exports counters and histograms since it started; what a person watching wants is what happened over the
last few seconds. So each reading is kept, and a point is the difference of two: requests and errors per second,
p50 and p99 of the request durations that arrived in between (the histogram's buckets subtracted, then
interpolated as Prometheus' `histogram_quantile` does), the mean queue time and the mean batch size over the same
requests. Pure but for `Sampler.read`, which fetches: text in, figures out, the clock passed in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from modelyard.errors import Unavailable
from modelyard.validation.watch import Counts, quantile, version_counts

Buckets = tuple[tuple[float, float], ...]


@dataclass
class Series:
    """One version's cumulative figures on one server: the requests and their durations as the gate's watch reads
    them (`validation.watch.Counts`), and the queue and batch sums beside."""

    counts: Counts = field(default_factory=Counts)
    queue_sum: float = 0.0
    queue_count: float = 0.0
    batch_sum: float = 0.0
    batch_count: float = 0.0


@dataclass(frozen=True)
class Reading:
    at: float
    series: Mapping[str, Series]  # "model/version" -> its figures


@dataclass(frozen=True)
class Point:
    rps: float
    errors_s: float
    p50_ms: float | None  # None: no request in between
    p99_ms: float | None
    queue_ms: float | None
    batch: float | None


SUMS = {
    "modelyard_queue_duration_seconds_sum": "queue_sum",
    "modelyard_queue_duration_seconds_count": "queue_count",
    "modelyard_batch_size_sum": "batch_sum",
    "modelyard_batch_size_count": "batch_count",
}


def parse(text: str, at: float) -> Reading:
    """Every version's figures in one server's `/metrics` text, parsed once."""
    families = list(text_string_to_metric_families(text))
    series = {f"{m}/{v}": Series(c) for (m, v), c in version_counts(families).items()}
    for family in families:
        for sample in family.samples:
            field_name = SUMS.get(sample.name)
            if field_name is None or "model" not in sample.labels:
                continue
            s = series.setdefault(f"{sample.labels['model']}/{sample.labels.get('version', '')}", Series())
            setattr(s, field_name, getattr(s, field_name) + float(sample.value))
    return Reading(at, series)


def _mean(total: float, count: float) -> float | None:
    return total / count if count > 0 else None


def point(before: Series | None, after: Series, seconds: float) -> Point:
    """What happened between two readings of one version. A counter that went down means the server restarted
    (or reloaded the version): the later reading then stands alone, from zero."""
    a = after.counts
    if before is None or a.ok < before.counts.ok or a.errors < before.counts.errors or seconds <= 0:
        before = Series()
    b = before.counts
    seconds = max(seconds, 1e-9)
    earlier = dict(b.buckets)
    buckets: Buckets = tuple((le, max(0.0, n - earlier.get(le, 0.0))) for le, n in a.buckets)
    seen = buckets[-1][1] if buckets else 0.0
    queue = _mean(after.queue_sum - before.queue_sum, after.queue_count - before.queue_count)
    return Point(
        rps=(a.ok - b.ok) / seconds,
        errors_s=(a.errors - b.errors) / seconds,
        p50_ms=quantile(0.5, buckets) * 1000 if seen else None,
        p99_ms=quantile(0.99, buckets) * 1000 if seen else None,
        queue_ms=queue * 1000 if queue is not None else None,
        batch=_mean(after.batch_sum - before.batch_sum, after.batch_count - before.batch_count),
    )


def points(before: Reading | None, after: Reading) -> dict[str, Point]:
    seconds = after.at - before.at if before is not None else 0.0
    return {
        key: point(before.series.get(key) if before is not None else None, s, seconds)
        for key, s in sorted(after.series.items())
    }


class Sampler:
    """The last reading of each server, shared by every page that watches it: each call answers the change since
    the previous reading. Pages polling the same server within half a second share one reading (and one scrape of
    its `/metrics`): each gets the same answer, with the same `at`, and draws it once; a lock per server keeps two
    scrapes from crossing, so a reading never replaces a newer one. The first reading has nothing before it: its
    figures are unknown (None), not a server's whole life shown as its last two seconds."""

    SHARE_S = 0.5

    def __init__(self, fetch: Callable[[str], str], clock: Callable[[], float]) -> None:
        self._fetch, self._clock = fetch, clock
        self._last: dict[str, tuple[Reading, dict[str, Any]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def read(self, url: str) -> dict[str, Any]:
        with self._lock:
            lock = self._locks.setdefault(url, threading.Lock())
        with lock:
            last = self._last.get(url)
            if last is not None and self._clock() - last[0].at < self.SHARE_S:
                return last[1]
            text = self._fetch(url)
            try:
                reading = parse(text, self._clock())
            except (ValueError, KeyError) as error:
                raise Unavailable(f"{url}/metrics is not Prometheus text: {error}") from None
            before = last[0] if last is not None else None
            found = {k: vars(p) for k, p in points(before, reading).items()}
            if before is None:
                found = {k: dict.fromkeys(figures) for k, figures in found.items()}
            answer = {"at": reading.at, "versions": found}
            self._last[url] = (reading, answer)
            return answer
