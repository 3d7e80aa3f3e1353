"""The gate's decision, tick by tick: what it does for each state of the registry it sees."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from modelyard.errors import ModelExecutionError
from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse
from modelyard.registry import Registry, Validation
from modelyard.traffic import Sampler, TrafficLog
from modelyard.validation import Policy
from modelyard.validation.gate import Gate, Seen, Served, decide_step, regressed

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


def test_a_promoted_version_that_fails_or_slows_more_than_the_policy_allows_regressed() -> None:
    policy = Policy(min_watch_requests=100, max_error_excess=0.02, max_p99_ratio=1.5)
    before = Served(1000, 10, 2000.0)  # 1 % errors, p99 2 ms
    assert regressed(before, Served(50, 50, 2000.0), policy) is None  # too few requests yet
    assert regressed(before, Served(500, 10, 2500.0), policy) is None  # 2 % errors, p99 1.25x: within
    assert "error rate 0.100" in str(regressed(before, Served(500, 50, 2000.0), policy))
    assert "p99 4 ms" in str(regressed(before, Served(500, 5, 4000.0), policy))


def staged(registry: Registry, mlp_path: Path, versions: int) -> tuple[TrafficLog, np.ndarray]:
    """`fraud` with `versions` versions, 1 in production and 2 in staging; a traffic log to record into."""
    for _ in range(versions):
        registry.register(mlp_path, name="fraud")
    registry.set_alias("fraud", "production", 1)
    registry.set_alias("fraud", "staging", 2)
    assert registry.traffic_url is not None
    return TrafficLog(registry.traffic_url, Sampler(1.0)), np.zeros((1, 4), np.float32)


def test_the_gate_promotes_then_rolls_back_by_itself_and_does_not_promote_it_again(
    registry: Registry, mlp_path: Path
) -> None:
    """The registry and the traffic log are real; the replay is the one tested elsewhere, here a recorded pass."""
    log, x = staged(registry, mlp_path, versions=2)

    def serve(version: str, count: int, failing: int) -> None:
        for i in range(count):
            request = InferRequest([InferInput("x", "FP32", (1, 4), x)], id=f"{version}-{i}-{time.time_ns()}")
            error = ModelExecutionError("broken") if i < failing else None
            answer = None if error else InferResponse("fraud", version, [InferOutput("y", "FP32", x[:, :2])])
            log.record("fraud@production", version, request, answer, 1_000_000, error)
        log.flush(time.time())
        log.close()

    serve("1", 200, 0)
    passed = judged("pass")

    def validate(candidate: int, baseline: int) -> Validation:
        return registry.record_validation(dataclasses.replace(passed, candidate_version=candidate,
                                                              baseline_version=baseline))  # fmt: skip

    gate = Gate(registry, "fraud", AUTO, validate)
    action, line = gate.step()
    assert (action, registry.get("fraud@production").version) == ("promote", 2)
    log = TrafficLog(registry.traffic_url, Sampler(1.0))
    serve("2", 200, 60)  # 30 % of the promoted version's answers fail
    action, line = gate.step()
    assert action == "rollback"
    assert "error rate 0.300" in line
    assert registry.get("fraud@production").version == 1
    assert gate.step()[0] == "wait"  # staging still points at 2: not promoted again
    assert registry.get("fraud@production").version == 1


def test_a_move_made_while_the_gate_validated_is_not_undone(registry: Registry, mlp_path: Path) -> None:
    log, x = staged(registry, mlp_path, versions=3)
    for i in range(200):
        request = InferRequest([InferInput("x", "FP32", (1, 4), x)], id=f"r{i}")
        log.record("fraud@production", "1", request, InferResponse("fraud", "1", [InferOutput("y", "FP32", x)]), 1)
    log.close()
    passed = judged("pass")

    def validate(candidate: int, baseline: int) -> Validation:  # slow in life: a person moves production meanwhile
        registry.set_alias("fraud", "production", 3, reason="a hotfix, by hand")
        return registry.record_validation(dataclasses.replace(passed, candidate_version=candidate,
                                                              baseline_version=baseline))  # fmt: skip

    action, line = Gate(registry, "fraud", AUTO, validate).step()
    assert action == "idle"
    assert "moved to 3 meanwhile" in line
    assert registry.get("fraud@production").version == 3  # the hotfix stands
