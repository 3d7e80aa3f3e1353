"""The profiler's choices, tick by tick with fake measurements: the sweep, the ramp's early stop, the pick."""

from __future__ import annotations

import pytest

from modelyard.bench.profile import (
    Config,
    autoscaler_snippets,
    best_within,
    choose,
    curves,
    figure,
    perf_card,
    ramp,
    still_rising,
    sweep,
)
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


def test_the_card_keeps_every_configuration_s_curve_for_the_dashboard_s_plot() -> None:
    a, b = Config(0, 0, 1, 1), Config(16, 500, 1, 1)
    kept = curves([(a, [level(1, 5000, 1.0), level(4, 7000, 2.0)]), (b, [level(16, 9000, 4.0)])])
    assert [c["config"] for c in kept] == [a.label, b.label]
    assert kept[0]["points"] == [[1, 5000.0, 1.0], [4, 7000.0, 2.0]]  # (concurrency, req/s, p99 ms)
    assert kept[1]["points"] == [[16, 9000.0, 4.0]]


def test_the_plot_marks_the_choice_labels_each_point_and_keeps_the_points_readable() -> None:
    pytest.importorskip("matplotlib")
    batched = Config(max_batch_size=16, max_queue_delay_us=500, instances=1, intra_op_threads=1)
    single = Config(max_batch_size=0, max_queue_delay_us=0, instances=1, intra_op_threads=1)
    results = [
        (batched, [level(1, 900, 1.2), level(4, 2400, 2.0), level(16, 4100, 3.1)]),
        (single, [level(1, 1000, 1.1), level(4, 1500, 2.8), level(16, 1450, 9.0)]),
    ]
    chosen = choose(results, 50.0)
    assert chosen is not None
    fig = figure(results, 50.0, chosen, title="tabular@production: test")
    ax = fig.axes[0]
    (star,) = [line for line in ax.get_lines() if str(line.get_label()).startswith("recommended")]
    assert [list(star.get_xdata()), list(star.get_ydata())] == [[4100], [3.1]]  # the chosen point, read back
    assert str(star.get_label()) == f"recommended: {batched.label}"
    labels = [t.get_text() for t in ax.texts]
    assert labels.count("c=16") == 2  # each point says its concurrency
    # The budget (50 ms) lies far above every point (9 ms at most): named, not drawn, so the points keep the axis.
    assert ax.get_ylim()[1] < 20
    assert any("p99 budget 50 ms" in t for t in labels)
    assert ax.get_title() == "tabular@production: test"
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ticks
    assert all(t.replace(".", "").isdigit() for t in ticks), ticks  # 1, 2, 5, not $2\\times10^{0}$


def test_a_choice_at_the_top_of_a_rising_ramp_is_flagged() -> None:
    rising = [level(1, 900, 1.2), level(4, 2400, 2.0)]
    assert still_rising(rising, rising[-1])
    flat = [level(1, 900, 1.2), level(4, 2400, 2.0), level(16, 2450, 3.0)]
    assert not still_rising(flat, flat[-1])  # it levelled off
    assert not still_rising(flat, flat[1])  # not the top of the ramp
