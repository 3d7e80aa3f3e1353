"""What every command shares: the settings (read once, at start) and a registry opened on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from modelyard.errors import InvalidArgument
from modelyard.settings import Settings

if TYPE_CHECKING:
    from modelyard.registry import Registry


@dataclass
class CliState:
    settings: Settings
    debug: bool = False
    _registry: Registry | None = field(default=None, repr=False)

    def registry(self) -> Registry:
        if self._registry is None:
            from modelyard.registry import Registry  # on first use: `serve model.onnx` never needs it

            self._registry = Registry.from_settings(self.settings)
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """`--tag team=risk --tag tier=1` → {"team": "risk", "tier": "1"}; a malformed pair names its option."""
    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidArgument(f"{option} {item!r}: expected KEY=VALUE")
        pairs[key.strip()] = value.strip()
    return pairs


def parse_metrics(values: list[str] | None) -> dict[str, float]:
    metrics = {}
    for key, value in parse_pairs(values, "--metric").items():
        try:
            metrics[key] = float(value)
        except ValueError:
            raise InvalidArgument(f"--metric {key}={value}: the value must be a number") from None
    return metrics
