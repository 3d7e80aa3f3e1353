"""The simulator: traces read and shipped, the fluid model of the replicas, and the three policies on one trace."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from modelyard.errors import InvalidArgument
from modelyard.scaling.policy import Policy
from modelyard.scaling.simulate import Replicas, compare, hpa_cpu, ours, read_trace, simulate
from modelyard.testing import assert_one_line_error, run_cli

REPLICA = Replicas(capacity=32, throughput=400, budget_s=0.1, cold_start_s=1.0)


def test_traces_hold_each_rate_until_the_next_row(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("t,rate\n0,10\n3,50\n5,0\n")
    assert read_trace(str(tmp_path / "t.csv")) == [10, 10, 10, 50, 50, 0]
    assert len(read_trace("daily")) > 86_000
    assert max(read_trace("spike")) == 3000
    (tmp_path / "bad.csv").write_text("time,load\n0,1\n")
    with pytest.raises(InvalidArgument, match="columns t,rate"):
        read_trace(str(tmp_path / "bad.csv"))
    with pytest.raises(InvalidArgument, match="or name a shipped trace: daily, spike"):
        read_trace(str(tmp_path / "none.csv"))


def test_enough_replicas_meet_the_budget_and_too_few_do_not() -> None:
    steady = [300.0] * 120  # 0.75 of one replica's throughput
    fixed = simulate("one", steady, REPLICA, lambda now, q, cpu, n: 1)
    assert (fixed.slo_violating_s, fixed.replica_s) == (0, 120)
    overload = simulate("one", [800.0] * 120, REPLICA, lambda now, q, cpu, n: 1)
    assert overload.slo_violating_s > 100  # the backlog grows by 400 a second
    scaled = simulate("ours", [800.0] * 120, REPLICA, ours(Policy(capacity=32, max_replicas=10)))
    assert scaled.slo_violating_s <= 3  # the first seconds, before the new replicas are ready
    assert scaled.timeline[-1] == 3  # 64 in flight over a target of 22.4


def test_from_zero_the_first_requests_wait_for_a_cold_start() -> None:
    rates = [0.0] * 400 + [100.0] * 200
    result = simulate("ours", rates, REPLICA, ours(Policy(capacity=32, min_replicas=0, scale_to_zero_delay_s=60)))
    assert result.timeline[399] == 0  # scaled to zero in the idle spell
    assert result.slo_violating_s >= 1  # the arrivals of t=400 met no ready replica
    assert result.timeline[-1] == 1  # the cold start's backlog panicked it up; it settles at what 100 req/s need


def test_an_hpa_on_cpu_never_fires_when_the_server_cannot_reach_its_target() -> None:
    """The issue's case: a server that reaches 60 % CPU at its capacity, under a 70 % CPU rule."""
    rates = [1200.0] * 600  # three replicas' worth
    stuck = simulate("hpa", rates, Replicas(32, 400, 0.1, cpu_at_capacity=0.6), hpa_cpu(0.7))
    assert stuck.peak_replicas == 1
    assert stuck.slo_violating_s > 590
    fires = simulate("hpa", rates, Replicas(32, 400, 0.1, cpu_at_capacity=1.0), hpa_cpu(0.7))
    assert fires.peak_replicas >= 3


def test_the_three_on_the_spike() -> None:
    results = {r.name: r for r in compare(read_trace("spike"), REPLICA, Policy(capacity=32, min_replicas=0,
                                                                              max_replicas=20))}  # fmt: skip
    assert set(results) == {"modelyard", "knative-kpa", "hpa-cpu-70"}
    assert results["modelyard"].slo_violating_s < results["knative-kpa"].slo_violating_s
    assert results["modelyard"].slo_violating_s < results["hpa-cpu-70"].slo_violating_s


def test_the_command(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "autoscale", "simulate", "--trace", "spike", "--capacity", "32", "--throughput", "400",
                   "--budget-ms", "100", "--json")  # fmt: skip
    found = orjson.loads(proc.stdout)
    assert [r["name"] for r in found["results"]] == ["modelyard", "knative-kpa", "hpa-cpu-70"]
    assert found["results"][0]["replica_s_ratio"] == 1.0
    for args, text in [
        (("--capacity", "32"), "--capacity and --throughput"),
        (("--capacity", "32", "--throughput", "400", "--budget-ms", "100", "--replicas", "3..1"), "--replicas 3..1"),
        (("--capacity", "32", "--throughput", "400"), "--budget-ms"),
        (
            ("--capacity", "32", "--throughput", "400", "--budget-ms", "100", "--target-ratio", "1.2"),
            "is never reached there",
        ),
    ]:
        assert_one_line_error(run_cli(tmp_path, "autoscale", "simulate", "--trace", "spike", *args, ok=False), 2,
                              text)  # fmt: skip
