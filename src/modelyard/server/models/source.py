"""What a served model is loaded from: kept apart from `served.py` so that the spec (read by the CLI, the follower
and every worker) names it without importing runtimes and the batcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelSource:
    """What to load: a package folder served as `name` version `version`, with manifest fields overridden."""

    name: str
    version: str
    package_dir: str
    aliases: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    background: bool = False  # a shadow's candidate, in its own process: its batches gather (server/shadow/)
    reference: dict[str, Any] | None = None  # the version's reference profile: its traffic is tallied for drift
    input_checks: str = "warn"  # off | warn | reject: the reference's ranges and domains (models/limits.py)
    drift: bool = True  # tally the traffic against the reference (models/drift.py)
