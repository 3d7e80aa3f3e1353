"""The gate's decision, tick by tick: what it does for each state of the registry it sees."""

from __future__ import annotations

from datetime import UTC, datetime

from modelyard.registry import Validation
from modelyard.validation import Policy
from modelyard.validation.gate import Seen, decide_step

AUTO = Policy(auto_promote=True)


def judged(verdict: str, requests: int = 500, policy: Policy = AUTO) -> Validation:
    return Validation(id=7, name="fraud", baseline_version=1, candidate_version=2, baseline_sha256="",
                      candidate_sha256="", data_sha256="", requests=requests, source="", policy=policy.model_dump(),
                      checks=(), verdict=verdict, actor="", at=datetime.now(UTC))  # fmt: skip


def test_nothing_to_judge_without_a_candidate_other_than_production() -> None:
    assert decide_step(Seen(None, 1, None, 100), AUTO) == "idle"
    assert decide_step(Seen(1, 1, None, 100), AUTO) == "idle"


def test_a_new_candidate_is_validated_then_promoted_only_when_the_policy_says_so() -> None:
    assert decide_step(Seen(2, 1, None, 500), AUTO) == "validate"
    assert decide_step(Seen(2, 1, judged("pass"), 500), AUTO) == "promote"
    manual = Policy()
    assert decide_step(Seen(2, 1, judged("pass", policy=manual), 500), manual) == "wait"  # a person decides
    assert decide_step(Seen(2, 1, judged("pass", policy=manual), 500), AUTO) == "validate"  # other bounds: again


def test_a_failure_waits_and_an_inconclusive_verdict_is_tried_again_with_more_traffic() -> None:
    assert decide_step(Seen(2, 1, judged("fail"), 900), AUTO) == "wait"  # never retried on the same pair
    assert decide_step(Seen(2, 1, judged("inconclusive", requests=100), 100), AUTO) == "wait"
    assert decide_step(Seen(2, 1, judged("inconclusive", requests=100), 450), AUTO) == "validate"
