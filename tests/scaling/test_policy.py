"""The scaling policy tick by tick, the clock passed in: windows, delays, panic, the last replica, the bounds."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidArgument
from modelyard.scaling.policy import Autoscaler, Policy, from_card


def run(scaler: Autoscaler, start: float, stop: float, in_flight: float, current: int) -> tuple[int, list[int]]:
    """Observe `in_flight` each second from `start` to `stop`, applying each decision; the last count and all."""
    seen = []
    for second in range(int(start), int(stop)):
        scaler.observe(float(second), in_flight)
        current = scaler.decide(float(second), current)
        seen.append(current)
    return current, seen


def test_steady_load_asks_for_in_flight_over_the_target() -> None:
    policy = Policy(capacity=10, target_ratio=0.5, max_replicas=20)  # 5 in flight a replica
    current, _ = run(Autoscaler(policy), 0, 120, 23.0, 1)
    assert current == 5  # ceil(23 / 5)


def test_up_waits_its_delay_and_down_its_own() -> None:
    policy = Policy(capacity=10, target_ratio=1.0, upscale_delay_s=10, downscale_delay_s=30, panic_threshold=100)
    scaler = Autoscaler(policy)
    current, _ = run(scaler, 0, 61, 10.0, 1)  # one replica's worth for the whole stable window
    assert current == 1
    current, seen = run(scaler, 61, 200, 40.0, current)
    first_up = seen.index(next(n for n in seen if n > 1))
    assert first_up >= 10  # not before ten seconds of proposals asked for more
    assert current == 4
    current, seen = run(scaler, 200, 400, 10.0, current)
    assert current == 1
    # the stable average falls over 60 s; each step down waits until 30 s of proposals were all at most it
    assert seen[:30] == [4] * 30


def test_a_burst_panics_up_at_once_and_holds_until_it_leaves_the_stable_window() -> None:
    policy = Policy(capacity=10, target_ratio=1.0, upscale_delay_s=30, downscale_delay_s=0)
    scaler = Autoscaler(policy)
    current, _ = run(scaler, 0, 120, 5.0, 1)
    current, seen = run(scaler, 120, 126, 60.0, current)  # six seconds of six replicas' worth
    assert seen[0] >= 2  # panic: no upscale delay
    assert current == 6
    current, seen = run(scaler, 126, 250, 5.0, current)
    assert seen[:50] == [6] * 50  # no scaling down while the burst (from t=120) is in the 60 s stable window
    assert current == 1


def test_the_last_replica_waits_its_own_delay_and_comes_back_on_a_request() -> None:
    policy = Policy(capacity=10, min_replicas=0, scale_to_zero_delay_s=100, downscale_delay_s=5)
    scaler = Autoscaler(policy)
    current, _ = run(scaler, 0, 10, 3.0, 1)
    current, seen = run(scaler, 10, 200, 0.0, current)
    assert 10 + seen.index(0) == 109  # the last request at t=9: zero 100 s later, not before
    assert current == 0
    scaler.observe(200.0, 1.0)
    assert scaler.decide(200.0, 0) == 1  # from zero at once


def test_bounds() -> None:
    current, _ = run(Autoscaler(Policy(capacity=1, max_replicas=3)), 0, 60, 50.0, 1)
    assert current == 3
    current, _ = run(Autoscaler(Policy(capacity=100, min_replicas=2)), 0, 400, 0.0, 2)
    assert current == 2


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"capacity": 0}, "must carry more than 0"),
        ({"capacity": 32, "target_ratio": 1.5}, "a target of 48 is never reached"),
        ({"capacity": 1, "target_ratio": 0}, "target ratio 0"),
        ({"capacity": 1, "min_replicas": 3, "max_replicas": 1}, "replicas 3..1"),
        ({"capacity": 1, "panic_window_s": 120}, "panic window"),
    ],
)
def test_a_policy_that_cannot_work_is_refused(options: dict[str, float], text: str) -> None:
    with pytest.raises(InvalidArgument, match=text):
        Policy(**options)  # type: ignore[arg-type]


def test_the_card_gives_the_capacity() -> None:
    assert from_card({"concurrency": 32, "throughput_rps": 900}).capacity == 32
    with pytest.raises(InvalidArgument, match="no concurrency at the latency budget"):
        from_card({"throughput_rps": 900})


def test_delays_hold_on_a_clock_whose_ticks_drift() -> None:
    """A supervisor looks about once a second, never exactly: the delays must still end (they once did not)."""
    scaler = Autoscaler(Policy(capacity=1, target_ratio=1.0, stable_window_s=2, panic_window_s=0.2,
                               downscale_delay_s=2, max_replicas=4))  # fmt: skip
    now, current = 0.0, 1
    for _ in range(10):
        now += 1.013
        scaler.observe(now, 3.0)
        current = scaler.decide(now, current)
    assert current == 3
    for _ in range(12):
        now += 1.013
        scaler.observe(now, 0.0)
        current = scaler.decide(now, current)
    assert current == 1
