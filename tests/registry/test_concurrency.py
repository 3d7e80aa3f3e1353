"""Processes registering versions of one model at the same moment get distinct, consecutive numbers."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest

from modelyard.packaging import build_package
from modelyard.registry import Registry
from modelyard.settings import Settings

PROCESSES = 4
EACH = 5
ROUNDS = 3


def _register_many(settings_json: str, package: str, start: Any, count: int, out: Any) -> None:
    with Registry.from_settings(Settings.model_validate_json(settings_json), actor="worker") as registry:
        start.wait(timeout=60)
        numbers = [registry.register(Path(package), name="race").version for _ in range(count)]
    out.put(numbers)


def test_concurrent_registrations_get_distinct_consecutive_versions(
    settings: Settings, mlp_path: Path, tmp_path: Path
) -> None:
    build_package(mlp_path, tmp_path / "pkg", name="race")
    Registry.from_settings(settings).close()  # migrate once, so the race is on registration only
    ctx = mp.get_context("spawn")
    expected_total = 0
    for _ in range(ROUNDS):
        start, out = ctx.Event(), ctx.Queue()
        workers = [
            ctx.Process(
                target=_register_many,
                args=(settings.model_dump_json(), str(tmp_path / "pkg"), start, EACH, out),
            )
            for _ in range(PROCESSES)
        ]
        for w in workers:
            w.start()
        start.set()
        got = [n for _ in workers for n in out.get(timeout=120)]
        for w in workers:
            w.join(timeout=60)
            assert w.exitcode == 0
        expected_total += PROCESSES * EACH
        assert sorted(got) == list(range(expected_total - PROCESSES * EACH + 1, expected_total + 1))
    with Registry.from_settings(settings) as registry:
        page = registry.search(page_size=1000)
        assert sorted(v.version for v in page.items) == list(range(1, expected_total + 1))
        # The writers raced on identical bytes too: the one stored copy still has its digest.
        registry.download("race/1", tmp_path / "downloaded")


@pytest.mark.parametrize("n", [3])
def test_servers_starting_together_migrate_once(settings: Settings, n: int) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open_registry, args=(settings.model_dump_json(),)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0


def _open_registry(settings_json: str) -> None:
    Registry.from_settings(Settings.model_validate_json(settings_json)).close()
