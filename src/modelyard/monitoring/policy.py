"""The monitor policy in force for a model: a file given, else the one stored in the registry, else the defaults."""

from __future__ import annotations

from pathlib import Path

from modelyard.monitoring.alerts import KIND, MonitorPolicy
from modelyard.registry import Registry
from modelyard.uri import parse_ref


def monitor_policy(registry: Registry, ref: str, path: Path | None = None) -> MonitorPolicy:
    if path is not None:
        return MonitorPolicy.load(path)
    name = parse_ref(ref).name
    stored = registry.policy(name, KIND)
    if stored is None:
        return MonitorPolicy()
    return MonitorPolicy.parse(dict(stored.fields), f"{name}'s stored monitor policy (#{stored.id})")
