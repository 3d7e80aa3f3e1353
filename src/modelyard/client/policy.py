"""How a call chooses a server and whether it tries again: pure decisions, the clock passed in.

`Balancer` picks the endpoint with the fewest requests outstanding from this client, skipping endpoints whose
circuit is open (several failures in a row), and lets one probe through once the cool-down has passed.
`Attempts` is one call's life: which endpoint next, and after a failure whether to retry and how long to wait
(full-jitter exponential backoff, never past the call's deadline). Both are used as they are by the sync and the
async client, which only do the I/O and the sleeping.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from modelyard.errors import (
    DeadlineExceeded,
    ModelyardError,
    NoServers,
    ServerUnreachable,
    Unavailable,
)


@dataclass
class Endpoint:
    url: str
    outstanding: int = 0
    failures: int = 0  # in a row
    open_until: float = 0.0  # circuit open (not chosen) until this time
    probing: bool = False  # a probe request is out while the circuit is half-open


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_s: float = 0.02  # first backoff's upper bound; doubles per attempt
    max_backoff_s: float = 1.0
    failures_to_open: int = 3  # consecutive failures that take an endpoint out of rotation
    cooldown_s: float = 2.0  # first time out of rotation; doubles while probes keep failing, up to 30 s

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))


def retryable(error: BaseException) -> bool:
    """Connection failures and overload (503) are worth another server or another moment; a bad request, an unknown
    model or a model that raised would fail the same way again. DeadlineExceeded is an Unavailable, but final."""
    return isinstance(error, ServerUnreachable | Unavailable) and not isinstance(error, DeadlineExceeded)


class Balancer:
    def __init__(self, urls: list[str], policy: RetryPolicy) -> None:
        self.endpoints = {u: Endpoint(u) for u in urls}
        self.policy = policy
        self._turn = 0
        self._lock = threading.Lock()  # a sync Client may be shared by threads

    def update(self, urls: list[str]) -> None:
        """New discovery results: keep the state of endpoints that remain."""
        self.endpoints = {u: self.endpoints.get(u) or Endpoint(u) for u in urls}

    def pick(self, now: float, avoid: frozenset[str] = frozenset()) -> Endpoint | None:
        with self._lock:
            return self._pick(now, avoid)

    def _pick(self, now: float, avoid: frozenset[str]) -> Endpoint | None:
        candidates = [e for e in self.endpoints.values() if e.url not in avoid and self._available(e, now)]
        if not candidates:
            candidates = [e for e in self.endpoints.values() if self._available(e, now)]
        if not candidates:
            return None
        least = min(e.outstanding for e in candidates)
        tied = [e for e in candidates if e.outstanding == least]
        self._turn += 1
        chosen = tied[self._turn % len(tied)]
        if chosen.open_until:
            chosen.probing = True  # half-open: this request is the probe
        chosen.outstanding += 1
        return chosen

    def _available(self, e: Endpoint, now: float) -> bool:
        if not e.open_until:
            return True
        return now >= e.open_until and not e.probing

    def done(self, e: Endpoint, ok: bool, now: float) -> None:
        with self._lock:
            self._done(e, ok, now)

    def _done(self, e: Endpoint, ok: bool, now: float) -> None:
        e.outstanding -= 1
        e.probing = False
        if ok:
            e.failures, e.open_until = 0, 0.0
            return
        e.failures += 1
        if e.failures >= self.policy.failures_to_open:
            extra = e.failures - self.policy.failures_to_open
            e.open_until = now + min(30.0, self.policy.cooldown_s * 2**extra)


@dataclass
class Attempts:
    """One call: `next()` gives the endpoint to try (or raises), `failed()` says how long to wait before the next."""

    balancer: Balancer
    policy: RetryPolicy
    deadline: float
    model: str
    rng: random.Random = field(default_factory=random.Random)
    count: int = 0
    tried: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def next(self, now: float) -> Endpoint:
        if now >= self.deadline:
            raise self._final(DeadlineExceeded(f"{self.model}: the call's deadline passed"))
        endpoint = self.balancer.pick(now, avoid=frozenset(self.tried[-1:]))
        if endpoint is None:
            if not self.balancer.endpoints:
                raise NoServers(f"no live server serves {self.model} (start one: modelyard serve {self.model})")
            raise self._final(ServerUnreachable(f"{self.model}: every server is failing"))
        self.count += 1
        self.tried.append(endpoint.url)
        return endpoint

    def remaining(self, now: float) -> float:
        """What is left of the deadline for the next attempt (never zero: a transport treats 0 as no timeout)."""
        return max(self.deadline - now, 0.001)

    def succeeded(self, endpoint: Endpoint, now: float) -> None:
        self.balancer.done(endpoint, True, now)

    def failed(self, endpoint: Endpoint, error: ModelyardError, now: float) -> float:
        """Seconds to wait before the next attempt; raises the error when it should not be retried."""
        unhealthy = isinstance(error, ServerUnreachable)
        self.balancer.done(endpoint, not unhealthy, now)
        said = str(error)  # the transports name the endpoint already
        self.errors.append(said if said.startswith(endpoint.url) else f"{endpoint.url}: {said}")
        if not retryable(error) or self.count >= self.policy.max_attempts:
            raise self._final(error)
        wait = self.policy.backoff(self.count, self.rng)
        if now + wait >= self.deadline:
            raise self._final(error)
        return wait

    def _final(self, error: ModelyardError) -> ModelyardError:
        """The error, with how many attempts it took and what the others said (each distinct answer once)."""
        others = [e for e in dict.fromkeys(self.errors) if e != error.message]
        if self.count > 1 or others:
            said = f": {'; '.join(others)}" if others else ""
            error.message = f"{error.message} (after {self.count} attempt(s){said})"
        return error
