"""Validations in the registry (SQLite, and PostgreSQL where configured): recorded once, read by model and by pair."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelyard.errors import NotFound
from modelyard.registry import Registry, Validation


def validation(candidate: int, verdict: str, name: str = "fraud") -> Validation:
    return Validation(
        id=0, name=name, baseline_version=1, candidate_version=candidate, baseline_sha256="a" * 64,
        candidate_sha256="b" * 64, data_sha256="c" * 64, requests=400, source="traffic of fraud/1",
        policy={"max_flip_rate": 0.01}, checks=({"name": "new errors", "passed": verdict == "pass", "line": "x"},),
        verdict=verdict, actor="", at=datetime.now(UTC),
    )  # fmt: skip


def test_recorded_validations_come_back_newest_first_and_by_pair(registry: Registry, mlp_path: Path) -> None:
    for _ in range(3):
        registry.register(mlp_path, name="fraud")
    first = registry.record_validation(validation(2, "fail"))
    second = registry.record_validation(validation(2, "pass"))
    other = registry.record_validation(validation(3, "inconclusive"))
    assert first.id < second.id < other.id
    assert first.actor == registry.actor  # the registry's actor, where none was given
    assert [v.id for v in registry.validations("fraud")] == [other.id, second.id, first.id]
    latest = registry.latest_validation("fraud", candidate=2, baseline=1)
    assert latest is not None
    assert (latest.id, latest.verdict, latest.checks[0]["name"]) == (second.id, "pass", "new errors")
    assert registry.latest_validation("fraud", candidate=3, baseline=2) is None
    assert registry.validation(first.id).failing == ["x"]
    with pytest.raises(NotFound, match="not registered"):
        registry.record_validation(validation(2, "pass", name="nobody"))
    with pytest.raises(NotFound, match="no validation #999"):
        registry.validation(999)
    assert [v.id for v in registry.validations("fraud", version=3)] == [other.id]  # as candidate
    assert [v.id for v in registry.validations("fraud", version=1)] == [other.id, second.id, first.id]  # baseline
    assert [v.id for v in registry.validations("fraud", limit=1, before=other.id)] == [second.id]  # the next page


def test_a_model_policy_is_kept_with_its_history_per_kind(registry: Registry, mlp_path: Path) -> None:
    registry.register(mlp_path, name="fraud")
    assert registry.policy("fraud", "gate") is None
    first = registry.set_policy("fraud", "gate", {"max_flip_rate": 0.02})
    second = registry.set_policy("fraud", "gate", {"max_flip_rate": 0.05, "auto_promote": True})
    registry.set_policy("fraud", "monitor", {"every": "5m"})  # another kind: its own history
    current = registry.policy("fraud", "gate")
    assert current is not None
    assert (current.id, dict(current.fields), current.actor) == (second.id, {"max_flip_rate": 0.05,
                                                                  "auto_promote": True}, registry.actor)  # fmt: skip
    assert [p.id for p in registry.policy_history("fraud", "gate")] == [first.id, second.id]
    assert [dict(p.fields) for p in registry.policy_history("fraud", "monitor")] == [{"every": "5m"}]
    with pytest.raises(NotFound, match="not registered"):
        registry.set_policy("nobody", "gate", {})
