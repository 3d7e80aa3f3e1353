"""The gate that runs by itself: when `staging` points at a version production has not been compared with, it
validates that version on production's recorded traffic, records the verdict, and, where the policy says
`auto_promote: true`, promotes a pass. Pure: `decide_step` sees the registry's state and says what to do; `Gate`
does it, one step at a time, the clock passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from modelyard.errors import NotFound
from modelyard.registry import Registry, Validation
from modelyard.validation.policy import Policy

Step = Literal["idle", "validate", "promote", "wait"]
GATE_ACTOR = "modelyard-gate"


@dataclass(frozen=True)
class Seen:
    candidate: int | None  # staging's version (None: no staging)
    baseline: int | None  # production's version
    last: Validation | None  # the newest validation of exactly this pair
    requests: int  # recorded requests of the baseline available now


def decide_step(seen: Seen, policy: Policy) -> Step:
    """`idle`: nothing to judge; `validate`: a pair never judged under this policy, or judged inconclusive and
    since given more traffic; `promote`: a pass the policy lets the gate act on; `wait`: judged, for a person."""
    if seen.candidate is None or seen.baseline is None or seen.candidate == seen.baseline:
        return "idle"
    last = seen.last
    if last is None or dict(last.policy) != policy.model_dump():
        return "validate"
    if last.verdict == "inconclusive" and seen.requests > last.requests:
        return "validate"  # more traffic may decide it now
    if last.verdict == "pass" and policy.auto_promote:
        return "promote"
    return "wait"


@dataclass
class Gate:
    registry: Registry
    name: str
    policy: Policy
    validate: Callable[[int, int], Validation]  # (candidate, baseline) -> the recorded validation
    candidate_alias: str = "staging"
    baseline_alias: str = "production"

    def look(self) -> Seen:
        candidate, baseline = self._version(self.candidate_alias), self._version(self.baseline_alias)
        last = None
        if candidate is not None and baseline is not None:
            last = self.registry.latest_validation(self.name, candidate, baseline)
        requests = 0
        if baseline is not None:
            try:
                requests = self.registry.traffic(f"{self.name}/{baseline}").rows
            except NotFound:
                requests = 0
        return Seen(candidate, baseline, last, requests)

    def step(self) -> tuple[Step, str]:
        """One look and what came of it, in words."""
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
            evidence = {"validation": seen.last.id, "verdict": "pass", "by": GATE_ACTOR}
            self.registry.set_alias(self.name, self.baseline_alias, seen.candidate,
                                    f"the gate: validation #{seen.last.id} passed", evidence)  # fmt: skip
            return "promote", f"{self.name}@{self.baseline_alias} -> {seen.candidate} on validation #{seen.last.id}"
        if action == "wait" and seen.last is not None:
            return "wait", f"validation #{seen.last.id} says {seen.last.verdict}; waiting for a person or a new staging"
        return action, ""

    def _version(self, alias: str) -> int | None:
        try:
            return self.registry.get(f"{self.name}@{alias}").version
        except NotFound:
            return None
