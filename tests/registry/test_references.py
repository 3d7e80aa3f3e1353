"""Reference profiles in the registry (SQLite, and PostgreSQL where configured): the newest per version in force."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.errors import NotFound
from modelyard.registry import Registry


def test_a_versions_reference_is_its_newest_and_others_have_none(registry: Registry, mlp_path: Path) -> None:
    for _ in range(2):
        registry.register(mlp_path, name="fraud")
    assert registry.reference("fraud/1") is None
    registry.set_reference("fraud/1", {"rows": 10, "features": {}}, "a.parquet")
    newer = registry.set_reference("fraud/1", {"rows": 20, "features": {"x[0]": {"kind": "numeric"}}}, "b.parquet")
    found = registry.reference("fraud/1")
    assert found is not None
    assert (found.id, found.rows, found.source, found.actor) == (newer.id, 20, "b.parquet", registry.actor)
    assert found.profile["features"]["x[0]"]["kind"] == "numeric"
    assert registry.reference("fraud/2") is None
    registry.set_alias("fraud", "production", 1)
    assert registry.reference("fraud@production") == found
    with pytest.raises(NotFound):
        registry.set_reference("fraud/9", {"rows": 1, "features": {}})


def test_a_registration_with_data_it_cannot_profile_stores_nothing(registry: Registry, mlp_path: Path) -> None:
    def refuse(signature: object, package: str) -> tuple[dict[str, object], str]:
        raise ValueError("cannot read the data")

    with pytest.raises(ValueError, match="cannot read"):
        registry.register(mlp_path, name="fraud", reference=refuse)
    assert registry.list_models().items == []
    version = registry.register(mlp_path, name="fraud", reference=lambda s, p: ({"rows": 3, "features": {}}, "here"))
    stored = registry.reference(f"fraud/{version.version}")
    assert stored is not None
    assert stored.source == "here"
