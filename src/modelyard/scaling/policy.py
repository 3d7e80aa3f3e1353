"""How many replicas: in-flight requests over what one replica carries at the latency budget, decided tick by tick
with the clock passed in (Ray Serve's `autoscaling_policy.py` shape), Knative's two windows.

A replica's capacity is the concurrency at which its p99 met the budget in `modelyard profile` (the performance
card's `concurrency`), not a CPU figure: a server that can only reach 60 % CPU never trips a 70 % CPU rule, and its
p99 may be long gone by then. The target is `capacity x target_ratio` in-flight requests a replica.

- The *stable* window (60 s) averages in-flight requests; the *panic* window (6 s) reacts to a burst: when it asks
  for `panic_threshold` times the replicas there are, the policy scales up to it at once and does not scale down
  until the burst has left the stable window.
- Up and down have their own delays: a higher count is taken once it has been asked for `upscale_delay_s`, a lower
  one only after every proposal of the last `downscale_delay_s` was at most it (the highest of them is taken).
- The last replica leaves only after `scale_to_zero_delay_s` without a request (when `min_replicas` is 0).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import InvalidArgument


@dataclass(frozen=True)
class Policy:
    capacity: float  # in-flight requests one replica carries at the latency budget
    target_ratio: float = 0.7
    min_replicas: int = 1
    max_replicas: int = 10
    stable_window_s: float = 60.0
    panic_window_s: float = 6.0
    panic_threshold: float = 2.0
    upscale_delay_s: float = 0.0
    downscale_delay_s: float = 30.0
    scale_to_zero_delay_s: float = 300.0

    def __post_init__(self) -> None:
        if not self.capacity > 0:
            raise InvalidArgument(f"capacity {self.capacity:g}: a replica must carry more than 0 requests")
        if self.target_ratio > 1:
            # the reachability check: the capacity is the most a replica carries within the latency budget (the
            # card's concurrency), so a target above it is never reached there, as a 70 % CPU rule never fires
            # on a server that tops out at 60 %; the replicas would sit over budget, never scaled out
            raise InvalidArgument(f"target ratio {self.target_ratio:g}: a replica carries at most {self.capacity:g} "
                                  f"in flight within its latency budget (its capacity); a target of "
                                  f"{self.target:g} is never reached there; give a ratio of at most 1")  # fmt: skip
        if not self.target_ratio > 0:
            raise InvalidArgument(f"target ratio {self.target_ratio:g}: give a share of the capacity above 0")
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise InvalidArgument(f"replicas {self.min_replicas}..{self.max_replicas}: give MIN..MAX with "
                                  "0 <= MIN <= MAX and MAX >= 1")  # fmt: skip
        if not 0 < self.panic_window_s <= self.stable_window_s:
            raise InvalidArgument("the panic window must be positive and no longer than the stable window")

    @property
    def target(self) -> float:
        """In-flight requests a replica is asked to carry."""
        return self.capacity * self.target_ratio


def from_card(card: Mapping[str, Any], **options: Any) -> Policy:
    """The policy for a version's performance card: its capacity is the concurrency at the latency budget."""
    concurrency = card.get("concurrency")
    if not concurrency:
        raise InvalidArgument("the performance card has no concurrency at the latency budget; run modelyard "
                              "profile again, or give --capacity")  # fmt: skip
    return Policy(capacity=float(concurrency), **options)


@dataclass
class Autoscaler:
    """The policy's state: samples of in-flight requests, proposals, the last request. `decide` is pure in
    everything but this state; the caller passes the time."""

    policy: Policy
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    proposals: deque[tuple[float, int]] = field(default_factory=deque)
    panic_until: float = -math.inf
    last_request: float = -math.inf

    def observe(self, now: float, in_flight: float) -> None:
        """In-flight requests summed over the replicas, at `now`."""
        self.samples.append((now, in_flight))
        if in_flight > 0:
            self.last_request = now
        while self.samples and self.samples[0][0] < now - self.policy.stable_window_s:
            self.samples.popleft()

    def _average(self, now: float, window: float) -> float:
        values = [v for t, v in self.samples if t >= now - window]
        return sum(values) / len(values) if values else 0.0

    def decide(self, now: float, current: int) -> int:
        """The replicas to run from `now` on, given `current`."""
        p = self.policy
        stable = math.ceil(self._average(now, p.stable_window_s) / p.target - 1e-9)
        panic = math.ceil(self._average(now, p.panic_window_s) / p.target - 1e-9)
        if (current > 0 and panic >= p.panic_threshold * current) or (current == 0 and panic > 0):
            self.panic_until = now + p.stable_window_s
        wanted = max(stable, panic) if now < self.panic_until else stable
        if now - self.last_request < p.scale_to_zero_delay_s:
            wanted = max(wanted, 1)  # the last replica stays while requests came recently
        wanted = min(p.max_replicas, max(p.min_replicas, wanted))
        self.proposals.append((now, wanted))
        horizon = max(p.upscale_delay_s, p.downscale_delay_s)
        while len(self.proposals) > 1 and self.proposals[1][0] <= now - horizon:
            self.proposals.popleft()  # the newest proposal at least a horizon old stays: it covers the window
        if wanted > current:
            # up: once every proposal of the last upscale_delay_s asked for more; in panic, at once
            held = self._held(now, p.upscale_delay_s)
            return wanted if now < self.panic_until or (held is not None and min(held) > current) else current
        if wanted < current:
            if wanted == 0:
                return 0  # scale_to_zero_delay_s without a request is the last replica's own delay
            if now < self.panic_until:
                return current  # no scaling down while a burst is in the stable window
            held = self._held(now, p.downscale_delay_s)
            return current if held is None else min(current, max(held))
        return current

    def _held(self, now: float, delay: float) -> list[int] | None:
        """The proposals of the last `delay` seconds and the one in force when they began; None when the policy
        has not proposed for that long yet (ticks never fall exactly a delay apart on a real clock)."""
        if delay <= 0:
            return [self.proposals[-1][1]]
        covering = [n for t, n in self.proposals if t <= now - delay]
        if not covering:
            return None
        return [covering[-1], *(n for t, n in self.proposals if t > now - delay)]
