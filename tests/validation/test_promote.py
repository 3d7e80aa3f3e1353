"""`promote`, the rule the CLI, the dashboard and the gate share, against a registry that moves under it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelyard import examples
from modelyard.errors import FailedPrecondition
from modelyard.packaging import build_package
from modelyard.registry import Registry, Validation
from modelyard.validation.promote import promote


def test_a_move_made_while_the_validation_ran_is_not_undone(registry: Registry, tmp_path: Path) -> None:
    build_package(examples.mlp_onnx(tmp_path / "m.onnx"), tmp_path / "pkg", name="fraud")
    versions = [registry.register(tmp_path / "pkg", name="fraud") for _ in range(3)]
    registry.set_alias("fraud", "production", 1)
    registry.set_alias("fraud", "staging", 2)

    def judge(candidate: int, baseline: int) -> Validation:  # slow in life: someone moves production meanwhile
        registry.set_alias("fraud", "production", 3, reason="a hotfix, by hand")
        return registry.record_validation(Validation(
            id=0, name="fraud", baseline_version=baseline, candidate_version=candidate,
            baseline_sha256=versions[0].sha256, candidate_sha256=versions[1].sha256, data_sha256="", requests=500,
            source="test", policy={}, checks=(), verdict="pass", actor="", at=datetime.now(UTC)))  # fmt: skip

    with pytest.raises(FailedPrecondition, match=r"moved to 3 meanwhile, not 1.*the validation judged 1"):
        promote(registry, "fraud", "staging", "production", {}, judge)
    assert registry.get("fraud@production").version == 3  # the hotfix stands
    assert [e.reason for e in registry.history("fraud", "production")][-1] == "a hotfix, by hand"
