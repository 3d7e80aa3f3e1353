"""The servers page's figures from two readings of `/metrics`, tick by tick: rates over the time between them,
quantiles of the requests that arrived in between only, and a restarted server taken from zero."""

from __future__ import annotations

import pytest

from modelyard.ui.live import Sampler, parse, point


def metrics(ok: int, errors: int, fast: int, slow: int, queue_s: float = 0.0, batches: int = 0, rows: int = 0) -> str:
    """`fast` requests at or under 1 ms, `slow` ones between 10 and 100 ms (cumulative, as a server exports)."""
    labels = 'model="fraud",version="2"'
    return "\n".join([
        "# TYPE modelyard_requests_total counter",
        f'modelyard_requests_total{{{labels},outcome="success"}} {ok}',
        f'modelyard_requests_total{{{labels},outcome="error"}} {errors}',
        "# TYPE modelyard_request_duration_seconds histogram",
        f'modelyard_request_duration_seconds_bucket{{{labels},le="0.001"}} {fast}',
        f'modelyard_request_duration_seconds_bucket{{{labels},le="0.01"}} {fast}',
        f'modelyard_request_duration_seconds_bucket{{{labels},le="0.1"}} {fast + slow}',
        f'modelyard_request_duration_seconds_bucket{{{labels},le="+Inf"}} {fast + slow}',
        f"modelyard_request_duration_seconds_count{{{labels}}} {fast + slow}",
        f"modelyard_request_duration_seconds_sum{{{labels}}} 0",
        "# TYPE modelyard_queue_duration_seconds summary",
        f"modelyard_queue_duration_seconds_sum{{{labels}}} {queue_s}",
        f"modelyard_queue_duration_seconds_count{{{labels}}} {ok + errors}",
        "# TYPE modelyard_batch_size summary",
        f"modelyard_batch_size_sum{{{labels}}} {rows}",
        f"modelyard_batch_size_count{{{labels}}} {batches}",
        "",
    ])  # fmt: skip


def test_a_point_is_what_happened_between_two_readings() -> None:
    before = parse(metrics(100, 0, 100, 0, queue_s=0.1, batches=10, rows=100), at=10.0).series["fraud/2"]
    after = parse(metrics(300, 4, 200, 104, queue_s=0.1 + 0.204, batches=20, rows=400), at=12.0).series["fraud/2"]
    p = point(before, after, 2.0)
    assert p.rps == pytest.approx(100.0)  # 200 more successes over 2 s
    assert p.errors_s == pytest.approx(2.0)
    assert p.queue_ms == pytest.approx(1.0)  # 0.204 s over 204 requests
    assert p.batch == pytest.approx(30.0)  # 300 rows in 10 batches
    # of the 204 requests in between, 104 were slow: the median lies in the slow bucket, which the fast history
    # before the first reading would have hidden
    assert p.p50_ms is not None
    assert 10.0 < p.p50_ms <= 100.0
    assert p.p99_ms is not None
    assert p.p99_ms > p.p50_ms


def test_no_request_in_between_gives_no_quantile_and_a_restart_counts_from_zero() -> None:
    first = parse(metrics(50, 0, 50, 0), at=0.0).series["fraud/2"]
    idle = point(first, first, 2.0)
    assert (idle.rps, idle.p50_ms, idle.queue_ms, idle.batch) == (0.0, None, None, None)
    restarted = parse(metrics(10, 0, 10, 0), at=2.0).series["fraud/2"]
    assert point(first, restarted, 2.0).rps == pytest.approx(5.0)  # 10 since the restart, not -40


def test_the_sampler_answers_the_change_since_its_last_reading_and_shares_one_between_pages() -> None:
    texts = iter([metrics(0, 0, 0, 0), metrics(40, 0, 40, 0)])  # a third scrape would raise StopIteration
    clock = iter([0.0, 2.0, 2.0, 2.1])  # the first read's scrape; the second's look and scrape; the third's look
    sampler = Sampler(lambda url: next(texts), lambda: next(clock))
    first = sampler.read("http://a")["versions"]["fraud/2"]
    assert set(first.values()) == {None}  # nothing before it: no rate, and no lifetime figure shown as recent
    second = sampler.read("http://a")
    assert second["versions"]["fraud/2"]["rps"] == pytest.approx(20.0)
    assert sampler.read("http://a") == second  # 0.1 s later (another page polling): the same point, no scrape


def test_a_body_that_is_not_prometheus_text_is_unavailable_not_a_crash() -> None:
    from modelyard.errors import Unavailable

    sampler = Sampler(lambda url: "<html>not metrics {", lambda: 0.0)
    with pytest.raises(Unavailable, match="is not Prometheus text"):
        sampler.read("http://a")
