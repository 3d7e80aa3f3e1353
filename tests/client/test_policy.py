"""The client's pure core, tick by tick: least-outstanding choice, circuit breaking, retries within a deadline."""

from __future__ import annotations

import random

import pytest

from modelyard.client.policy import Attempts, Balancer, RetryPolicy
from modelyard.errors import DeadlineExceeded, InvalidArgument, NoServers, ServerUnreachable, Unavailable

POLICY = RetryPolicy(max_attempts=4, backoff_s=0.1, max_backoff_s=1.0, failures_to_open=3, cooldown_s=2.0)


def test_least_outstanding_wins_and_ties_rotate() -> None:
    b = Balancer(["a", "b", "c"], POLICY)
    first = [b.pick(0.0) for _ in range(3)]
    assert sorted(e.url for e in first if e) == ["a", "b", "c"]  # one each before any gets a second
    b.done(first[1], True, 0.0)  # type: ignore[arg-type]
    again = b.pick(0.0)
    assert again is first[1]  # the only one with nothing outstanding


def test_circuit_opens_after_failures_then_probes_once_and_closes_on_success() -> None:
    b = Balancer(["a", "b"], POLICY)
    a = b.endpoints["a"]
    for _ in range(3):
        assert b.pick(10.0, avoid=frozenset({"b"})) is a
        b.done(a, False, 10.0)
    assert a.open_until == 12.0
    assert [b.pick(11.0).url for _ in range(3)] == ["b", "b", "b"]  # type: ignore[union-attr]
    probe = b.pick(12.0, avoid=frozenset({"b"}))
    assert probe is a
    assert a.probing
    assert b.pick(12.1, avoid=frozenset({"b"})).url == "b"  # type: ignore[union-attr]  # one probe at a time
    b.done(a, False, 12.2)  # the probe failed: out for twice as long
    assert a.open_until == pytest.approx(16.2)
    b.pick(16.2, avoid=frozenset({"b"}))
    b.done(a, True, 16.3)
    assert (a.failures, a.open_until) == (0, 0.0)


def test_connection_failures_retry_elsewhere_with_bounded_backoff() -> None:
    b = Balancer(["a", "b"], POLICY)
    attempts = Attempts(b, POLICY, deadline=100.0, model="m", rng=random.Random(1))
    first = attempts.next(0.0)
    wait = attempts.failed(first, ServerUnreachable(f"{first.url}: refused"), 0.0)
    assert 0 <= wait <= 0.1
    second = attempts.next(wait)
    assert second.url != first.url  # the next attempt avoids the endpoint that just failed
    attempts.succeeded(second, 1.0)
    assert b.endpoints[second.url].outstanding == 0


def test_overload_is_retried_but_bad_requests_and_deadlines_are_not() -> None:
    b = Balancer(["a"], POLICY)
    attempts = Attempts(b, POLICY, deadline=100.0, model="m", rng=random.Random(1))
    e = attempts.next(0.0)
    assert attempts.failed(e, Unavailable("queue full"), 0.0) >= 0
    assert b.endpoints["a"].failures == 0  # overload does not count against the server's health
    with pytest.raises(InvalidArgument, match="inputs"):
        attempts.failed(attempts.next(1.0), InvalidArgument("inputs[0]: bad"), 1.0)
    attempts = Attempts(b, POLICY, deadline=100.0, model="m", rng=random.Random(1))
    with pytest.raises(DeadlineExceeded):
        attempts.failed(attempts.next(2.0), DeadlineExceeded("slow"), 2.0)


def test_attempts_stop_at_the_deadline_and_at_max_attempts_naming_each_failure() -> None:
    b = Balancer(["a", "b"], RetryPolicy(max_attempts=10, failures_to_open=100))
    attempts = Attempts(b, b.policy, deadline=1.0, model="m", rng=random.Random(1))
    with pytest.raises(DeadlineExceeded, match="deadline"):
        attempts.next(1.0)
    attempts = Attempts(b, POLICY, deadline=1e9, model="m", rng=random.Random(1))

    def fail_until_given_up() -> None:
        now = 0.0
        while True:
            e = attempts.next(now)
            now += attempts.failed(e, ServerUnreachable(f"{e.url}: refused"), now)

    with pytest.raises(ServerUnreachable) as raised:
        fail_until_given_up()
    assert attempts.count == POLICY.max_attempts
    assert "after 4 attempt(s)" in str(raised.value)
    assert "a: refused" in str(raised.value)


def test_no_endpoints_is_no_servers() -> None:
    with pytest.raises(NoServers, match="no live server serves fraud"):
        Attempts(Balancer([], POLICY), POLICY, deadline=10.0, model="fraud").next(0.0)
