"""The profiler's choices, tick by tick with fake measurements: the sweep, the ramp's early stop, the pick."""

from __future__ import annotations

import pytest

from modelyard.bench.profile import Config, autoscaler_snippets, best_within, choose, perf_card, ramp, sweep
from modelyard.bench.runner import Level
from modelyard.bench.stats import Summary


def level(load: float, throughput: float, p99_ms: float, errors: int = 0) -> Level:
    summary = Summary(1000, errors, 1.0, throughput, p99_ms / 3, p99_ms / 2, p99_ms / 1.5, p99_ms)
    return Level("closed", load, summary, [throughput] * 3, True, 20.0, None)


def test_sweep_skips_queue_delays_without_batching() -> None:
    configs = sweep([0, 8], [0, 500], [1, 2], [1])
    assert [(c.max_batch_size, c.max_queue_delay_us, c.instances) for c in configs] == [
        (0, 0, 1), (0, 0, 2), (8, 0, 1), (8, 0, 2), (8, 500, 1), (8, 500, 2),
    ]  # fmt: skip
    assert configs[-1].serve_args() == [
        "--max-batch-size", "8", "--max-queue-delay-us", "500", "--instances", "2", "--intra-op-threads", "1",
    ]  # fmt: skip
    assert sweep([8], [0], [1], [1], [2])[0].env() == {"OMP_NUM_THREADS": "2"}


def test_ramp_stops_when_throughput_stops_improving() -> None:
    curve = {1: (1000, 1.0), 2: (1900, 1.1), 4: (3000, 1.5), 8: (3100, 2.5), 16: (3120, 4.0), 32: (3130, 8.0)}
    asked: list[int] = []

    def measure(c: int) -> Level:
        asked.append(c)
        return level(c, *curve[c])

    ramp(measure, list(curve), p99_budget_ms=100)
    assert asked == [1, 2, 4, 8, 16]  # 8 and 16 add under 5 % each: stop


def test_ramp_stops_past_the_latency_budget() -> None:
    asked: list[int] = []

    def measure(c: int) -> Level:
        asked.append(c)
        return level(c, 1000.0 * c, 1.0 * c)

    levels = ramp(measure, [1, 2, 4, 8, 16], p99_budget_ms=3)
    assert asked == [1, 2, 4]
    assert best_within(levels, 3).load == 2  # type: ignore[union-attr]


def test_choose_the_most_throughput_within_budget_or_the_lowest_p99_above_a_floor() -> None:
    a, b = Config(0, 0, 1, 1), Config(16, 500, 1, 1)
    results = [
        (a, [level(1, 5000, 1.0), level(4, 7000, 2.0)]),
        (b, [level(1, 4000, 1.5), level(16, 9000, 4.0), level(64, 12000, 30.0)]),
    ]
    assert choose(results, p99_budget_ms=5)[0] == b  # type: ignore[index]
    assert choose(results, p99_budget_ms=1.2)[0] == a  # type: ignore[index]
    assert choose(results, p99_budget_ms=5, min_throughput=6500)[0] == a  # type: ignore[index]  # 7000 at 2 ms
    assert choose(results, p99_budget_ms=0.5) is None
    errors = [(a, [level(1, 9999, 1.0, errors=3)])]
    assert choose(errors, p99_budget_ms=5) is None  # a point with errors never counts


def test_card_and_autoscaler_carry_the_capacity() -> None:
    card = perf_card(Config(16, 500, 2, 1), level(16, 9000, 4.0), p99_budget_ms=5, headroom=0.7)
    assert card["capacity_rps"] == pytest.approx(6300)
    assert card["config"]["instances"] == 2
    assert card["machine"]["cores"] >= 1
    snippet = autoscaler_snippets("fraud-server", "fraud", card["capacity_rps"])
    assert 'threshold: "6300"' in snippet
    assert 'averageValue: "6300"' in snippet
    assert 'modelyard_requests_total{model="fraud"}' in snippet
