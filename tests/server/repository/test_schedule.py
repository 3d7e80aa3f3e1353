"""The follower's schedule, tick by tick: it sleeps until the next step it has, never spinning on one it lacks."""

from __future__ import annotations

import pytest

from modelyard.server.repository.follower import Schedule


def test_a_server_that_only_announces_sleeps_between_heartbeats() -> None:
    """The old loop computed its sleep from a follow deadline that never advanced without --follow: 0 s, a spin."""
    now = 0.0
    schedule = Schedule(now)
    schedule.add("heartbeat")
    wakes = 0
    while now < 20.0:
        for step in schedule.due(now):
            assert step == "heartbeat"
            schedule.ran(step, now, 5.0)
        wait = schedule.wait_s(now)
        assert wait > 0
        now += wait
        wakes += 1
    assert wakes <= 20 / 5.0 + 1  # once a heartbeat: a stop wakes it by itself, the parent's death signals it


def test_each_step_runs_when_due_and_the_soonest_decides_the_sleep() -> None:
    schedule = Schedule(0.0)
    schedule.add("follow")
    schedule.add("heartbeat")
    assert schedule.due(0.0) == ["follow", "heartbeat"]
    schedule.ran("follow", 0.0, 2.0)
    schedule.ran("heartbeat", 0.0, 0.3)
    assert schedule.wait_s(0.1) == pytest.approx(0.2)
    assert schedule.due(0.3) == ["heartbeat"]
    schedule.ran("heartbeat", 0.3, 5.0)
    assert schedule.wait_s(1.9) == pytest.approx(0.1)
    assert schedule.due(2.0) == ["follow"]


def test_without_steps_it_still_wakes_to_look_at_its_parent() -> None:
    assert Schedule(0.0, most_s=0.5).wait_s(0.0) == 0.5
