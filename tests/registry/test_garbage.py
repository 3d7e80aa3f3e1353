"""Garbage in the artifact store: what a killed registration leaves, found tick by tick and removed only on request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modelyard.packaging import build_package
from modelyard.registry import Registry
from modelyard.registry.garbage import collect
from modelyard.testing import run_cli

HOUR = 3600.0


def test_only_unused_packages_and_leftover_copies_old_enough_are_garbage() -> None:
    stored = {"used": 0.0, "orphan": 0.0, "fresh-orphan": 9_000.0}
    garbage = collect(stored, {"used"}, {"copy-1": 0.0, "copy-2": 9_500.0}, now=10_000.0, min_age_s=HOUR)
    assert garbage.packages == ("orphan",)
    assert garbage.temporary == ("copy-1",)
    assert garbage.kept_young == 2
    assert not collect({"used": 0.0}, {"used"}, {}, now=10_000.0, min_age_s=HOUR)


def test_a_killed_registrations_leftovers_are_found_and_removed(
    registry: Registry, mlp_path: Path, tmp_path: Path
) -> None:
    registry.register(mlp_path, name="kept")
    # What kill -9 between the bytes and the row leaves: a package no version names, and a copy under tmp/.
    build_package(mlp_path, tmp_path / "other", name="other")
    lost = registry.artifacts.put_package(tmp_path / "other")
    leftover = Path(registry.artifacts.root) / "tmp" / f"{lost.sha256}-dead"
    (leftover / "sub").mkdir(parents=True)
    (leftover / "sub" / "model.onnx").write_bytes(b"half")
    assert not registry.garbage()  # younger than an hour: a registration may still be writing them
    later = time.time() + 2 * HOUR
    garbage = registry.garbage(now=later)
    assert garbage.packages == (lost.sha256,)
    assert garbage.temporary == (leftover.name,)
    registry.collect_garbage(garbage)
    assert not registry.garbage(now=later)
    registry.download("kept/1", tmp_path / "downloaded")  # what a version uses stays, digest intact


@pytest.mark.e2e
def test_gc_is_a_dry_run_unless_told(tmp_path: Path, mlp_path: Path) -> None:
    home = tmp_path / "home"
    run_cli(home, "models", "register", str(mlp_path), "--name", "m")
    leftover = home / "artifacts" / "tmp" / "abc-dead"
    leftover.mkdir(parents=True)
    dry = run_cli(home, "gc", "--min-age-h", "0")
    assert "would remove tmp/abc-dead" in dry.stdout
    assert "dry run: nothing removed" in dry.stdout
    assert leftover.exists()
    done = run_cli(home, "gc", "--min-age-h", "0", "--delete")
    assert "removed tmp/abc-dead" in done.stdout
    assert not leftover.exists()
    assert "nothing to collect" in run_cli(home, "gc", "--min-age-h", "0").stdout
