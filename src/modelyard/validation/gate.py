"""The gate that runs by itself: when `staging` points at a version production has not been compared with, it
validates that version on production's recorded traffic, records the verdict, and, where the policy says
`auto_promote: true`, promotes a pass. For `watch_s` after its own promotion it compares what production answered
since with what the previous version answered before, read from the live servers' `/metrics` (watch.py), or from
the traffic log where no server is found, and rolls back by itself, with the figures, when the error rate or p99
regressed; a candidate rolled back is not promoted again.
Pure: `decide_step` and `regressed` see the state and say what to do; `Gate` does it, a step at a time, the clock
passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from modelyard.errors import FailedPrecondition, NotFound
from modelyard.registry import Registry, Validation
from modelyard.validation.policy import Policy
from modelyard.validation.watch import Counts, Served, as_evidence, from_evidence

Step = Literal["idle", "validate", "promote", "wait", "rollback", "watch"]
GATE_ACTOR = "modelyard-gate"
ROLLED_BACK = "the gate rolled back"


@dataclass(frozen=True)
class Seen:
    candidate: int | None  # staging's version (None: no staging)
    baseline: int | None  # production's version
    last: Validation | None  # the newest validation of exactly this pair
    requests: int  # recorded requests of the baseline available now
    rolled_back: bool = False  # the gate promoted this candidate once and rolled it back


def decide_step(seen: Seen, policy: Policy) -> Step:
    """`idle`: nothing to judge; `validate`: a pair never judged under this policy, or judged inconclusive and
    since given more traffic; `promote`: a pass the policy lets the gate act on; `wait`: judged, for a person."""
    if seen.candidate is None or seen.baseline is None or seen.candidate == seen.baseline:
        return "idle"
    if seen.rolled_back:
        return "wait"  # production regressed under it once: a person decides, or staging moves on
    last = seen.last
    if last is None or dict(last.policy) != policy.model_dump():
        return "validate"
    if last.verdict == "inconclusive" and seen.requests > last.requests:
        return "validate"  # more traffic may decide it now
    if last.verdict == "pass" and policy.auto_promote:
        return "promote"
    return "wait"


def regressed(before: Served, after: Served, policy: Policy) -> str | None:
    """Why the promoted version must go (its error rate or p99 worse than the previous version's beyond the
    policy), or None: fine, or too few requests yet to say."""
    if after.requests < policy.min_watch_requests or before.requests == 0:
        return None
    if after.error_rate > before.error_rate + policy.max_error_excess:
        return f"error rate {after.error_rate:.3f} against {before.error_rate:.3f} before, n={after.requests}"
    if before.p99_us > 0 and after.p99_us > policy.max_p99_ratio * before.p99_us:
        return f"p99 {after.p99_us / 1000:.3g} ms against {before.p99_us / 1000:.3g} ms before, n={after.requests}"
    return None


@dataclass
class Gate:
    registry: Registry
    name: str
    policy: Policy
    validate: Callable[[int, int], Validation]  # (candidate, baseline) -> the recorded validation
    candidate_alias: str = "staging"
    baseline_alias: str = "production"
    clock: Callable[[], float] = time.time
    metrics: Callable[[], dict[str, Counts]] | None = None  # the live servers' counts per version (watch.py)

    @classmethod
    def replaying(
        cls,
        registry: Registry,
        name: str,
        policy: Policy,
        cache_dir: Path,
        candidate_alias: str = "staging",
        baseline_alias: str = "production",
    ) -> Gate:
        """A gate whose validations replay the baseline's recorded traffic (what `modelyard gate` runs)."""
        from modelyard.validation.run import requests_for, run

        def judge(candidate: int, baseline: int) -> Validation:
            base = registry.get(f"{name}/{baseline}")
            return run(
                registry,
                cache_dir,
                base,
                registry.get(f"{name}/{candidate}"),
                requests_for(registry, base),
                gate.policy,
            )  # fmt: skip (the policy in force at the time: `modelyard gate` refreshes it)

        def metrics() -> dict[str, Counts]:
            from modelyard.validation.watch import scrape

            return scrape([s.http_url for s in registry.servers(name) if s.http_url], name)[0]

        gate = cls(registry, name, policy, judge, candidate_alias, baseline_alias, metrics=metrics)
        return gate

    def look(self) -> Seen:
        candidate, baseline = self._version(self.candidate_alias), self._version(self.baseline_alias)
        last = None
        if candidate is not None and baseline is not None:
            last = self.registry.latest_validation(self.name, candidate, baseline)
        requests = self.registry.traffic_rows(self.name, baseline) if baseline is not None else 0
        history = self.registry.history(self.name, self.baseline_alias)
        rolled = any(e.kind == "rollback" and e.from_version == candidate and e.reason.startswith(ROLLED_BACK)
                     for e in history)  # fmt: skip
        return Seen(candidate, baseline, last, requests, rolled)

    def served(self, version: int, since: float, until: float | None = None) -> Served:
        """What `version` answered from `since` to `until`, from the traffic log."""
        try:
            table = self.registry.traffic(f"{self.name}/{version}", since=since, until=until).table
        except NotFound:
            return Served(0, 0, 0.0)
        if table.num_rows == 0:
            return Served(0, 0, 0.0)
        outcomes = table.column("outcome").to_pylist()
        latency = np.asarray(table.column("latency_us").to_numpy(), dtype=np.float64)
        return Served(len(outcomes), sum(o != "ok" for o in outcomes), float(np.quantile(latency, 0.99)))

    def watch(self) -> tuple[Step, str] | None:
        """Within `watch_s` of the gate's own promotion: roll back when production regressed, else keep watching."""
        history = self.registry.history(self.name, self.baseline_alias)
        if not history:
            return None
        moved = history[-1]
        at = moved.at.timestamp()
        now = self.clock()
        if moved.evidence.get("by") != GATE_ACTOR or moved.kind != "set" or now - at > self.policy.watch_s:
            return None
        if moved.to_version is None or moved.from_version is None:
            return None
        kept = from_evidence(moved.evidence.get("before") or {})
        counts = self.metrics() if kept is not None and self.metrics is not None else {}
        if kept is not None and str(moved.to_version) in counts:
            before, after, source = kept, counts[str(moved.to_version)].served(), "the servers' /metrics"
        else:  # no servers to read, or they have not loaded it yet: what the traffic log holds
            after = self.served(moved.to_version, since=at)
            before = self.served(moved.from_version, since=at - max(self.policy.watch_s, now - at), until=at)
            source = "the traffic log"
        reason = regressed(before, after, self.policy)
        if reason is None:
            return "watch", f"{self.name}/{moved.to_version}: {after.requests} requests since the promotion, fine"
        reason = f"{reason} ({source})"
        try:  # only the move the gate watched: one made by someone since stands
            self.registry.rollback(self.name, self.baseline_alias, f"{ROLLED_BACK}: {reason}",
                                   expect=moved.to_version)  # fmt: skip
        except FailedPrecondition as error:
            return "idle", f"{error}; the gate looks again"
        return "rollback", f"{self.name}@{self.baseline_alias} back to {moved.from_version}: {reason}"

    def step(self) -> tuple[Step, str]:
        """One look and what came of it, in words."""
        watched = self.watch()
        if watched is not None and watched[0] == "rollback":
            return watched
        seen = self.look()
        action = decide_step(seen, self.policy)
        if action == "validate":
            assert seen.candidate is not None
            assert seen.baseline is not None
            if seen.requests < 1:
                return "idle", f"{self.name}/{seen.baseline} has no recorded traffic yet"
            found = self.validate(seen.candidate, seen.baseline)
            seen = Seen(seen.candidate, seen.baseline, found, seen.requests)
            action = decide_step(seen, self.policy)
            if action != "promote":
                return "validate", f"validation #{found.id}: {found.verdict}"
        if action == "promote":
            assert seen.last is not None
            assert seen.candidate is not None
            evidence: dict[str, Any] = {"validation": seen.last.id, "verdict": "pass", "by": GATE_ACTOR}
            counts = self.metrics() if self.metrics is not None else {}
            if str(seen.baseline) in counts:  # production's figures now: its counters go when it is unloaded
                evidence["before"] = as_evidence(counts[str(seen.baseline)].served())
            try:  # the baseline the validation judged must still be production's: a move meanwhile stands
                self.registry.set_alias(self.name, self.baseline_alias, seen.candidate,
                                        f"the gate: validation #{seen.last.id} passed", evidence,
                                        expect=seen.baseline)  # fmt: skip
            except FailedPrecondition as error:
                return "idle", f"{error}; the gate looks again"
            return "promote", f"{self.name}@{self.baseline_alias} -> {seen.candidate} on validation #{seen.last.id}"
        if action == "wait" and seen.last is not None:
            return "wait", f"validation #{seen.last.id} says {seen.last.verdict}; waiting for a person or a new staging"
        return action, ""

    def _version(self, alias: str) -> int | None:
        try:
            return self.registry.get(f"{self.name}@{alias}").version
        except NotFound:
            return None
