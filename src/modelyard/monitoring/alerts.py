"""When does drift page someone? Pure: the monitor's policy, and the decision from the windows seen so far, the
clock passed in, tested tick by tick.

One noisy window pages nobody: an alert needs drift in at least `k` of the last `m` windows, and after an alert
for a version the same alert waits `cooldown_s` (a new feature drifting is a new alert). Windows with too little
data to say (`None`) neither count for an alert nor against one: they are not evidence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import InvalidArgument
from modelyard.policyfile import parse_model, read_yaml

KIND = "monitor"  # the registry's name for these policies


class MonitorPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    every_s: float = Field(default=300, gt=0, description="How often the monitor looks, and each window's length.")
    floor: float = Field(default=0.1, ge=0, description="The smallest PSI that counts as drift.")
    k: int = Field(default=2, ge=1, description="Drifting windows needed among the last m.")
    m: int = Field(default=3, ge=1, description="How many recent windows are weighed.")
    cooldown_s: float = Field(default=3600, ge=0, description="After an alert, how long the same one waits.")
    webhook: str = Field(default="", description="Where an alert is POSTed as JSON (empty: recorded only).")
    min_rows: int = Field(default=0, ge=0, description="A window with fewer rows is not evidence.")

    @classmethod
    def parse(cls, fields: object, where: str) -> MonitorPolicy:
        policy = parse_model(cls, fields, where)
        if policy.k > policy.m:
            raise InvalidArgument(f"{where}: k ({policy.k}) drifting windows cannot be found among m ({policy.m})")
        return policy

    @classmethod
    def load(cls, path: Path) -> MonitorPolicy:
        return cls.parse(read_yaml(path), f"--policy {path}")


@dataclass(frozen=True)
class Seen:
    """One window's outcome: when it ended, for which version, which features drifted (with their PSI)."""

    at: float
    version: int | None
    drift: bool | None
    drifting: tuple[tuple[str, float], ...] = ()
    rows: int = 0


@dataclass(frozen=True)
class Alert:
    version: int | None
    features: tuple[tuple[str, float], ...]  # (name, PSI), the largest first
    windows: tuple[Seen, ...]  # the windows that decided it, oldest first


@dataclass
class Persistence:
    policy: MonitorPolicy
    recent: deque[Seen] = field(default_factory=deque)
    last_alert: dict[int | None, tuple[float, frozenset[str]]] = field(default_factory=dict)

    def observe(self, seen: Seen) -> Alert | None:
        """Add a window; an alert when the policy says so."""
        if seen.drift is None or seen.rows < self.policy.min_rows:
            return None  # no evidence either way
        if self.recent and self.recent[-1].version != seen.version:
            self.recent.clear()  # a new version: its own windows decide
        self.recent.append(seen)
        while len(self.recent) > self.policy.m:
            self.recent.popleft()
        drifting = [w for w in self.recent if w.drift]
        if len(drifting) < self.policy.k:
            return None
        names = frozenset(name for w in drifting for name, _ in w.drifting)
        previous = self.last_alert.get(seen.version)
        if previous is not None and seen.at - previous[0] < self.policy.cooldown_s and names <= previous[1]:
            return None  # the same alert, still cooling down
        self.last_alert[seen.version] = (seen.at, names | (previous[1] if previous else frozenset()))
        effects: dict[str, float] = {}
        for w in drifting:
            for name, effect in w.drifting:
                effects[name] = max(effect, effects.get(name, 0.0))
        ranked = tuple(sorted(effects.items(), key=lambda item: -item[1]))
        return Alert(seen.version, ranked, tuple(self.recent))
