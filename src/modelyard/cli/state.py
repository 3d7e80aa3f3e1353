"""What every command shares: the settings (read once, at start) and a registry opened on first use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

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


N = TypeVar("N", int, float)


def parse_list(text: str, option: str, kind: Callable[[str], N], minimum: N) -> list[N]:
    """`--concurrency 1,8,32` → [1, 8, 32]: at least one value, each at least `minimum`; errors name the option."""
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        what = "whole numbers" if kind is int else "numbers"
        raise InvalidArgument(f"{option} {text!r}: expected {what} separated by commas, e.g. 1,8,32") from None
    if not values or any(v < minimum for v in values):
        raise InvalidArgument(f"{option} {text!r}: give at least one value, each at least {minimum}")
    return values


def count_range(option: str, text: str, minimum: int, unit: str) -> tuple[int, int]:
    """`N` -> (N, N), `MIN..MAX` -> (MIN, MAX), with `minimum` <= MIN <= MAX and MAX at least 1: the one reading
    of `--workers` and `--replicas`, so both refuse the same slips in the same words."""
    low, sep, high = text.partition("..")
    try:
        found = (int(low), int(high)) if sep else (int(low), int(low))
    except ValueError:
        raise InvalidArgument(f"{option} {text!r}: give a count (2) or MIN..MAX ({minimum}..4)") from None
    if not sep and found[0] < max(minimum, 1):
        raise InvalidArgument(f"{option} {text}: give at least {max(minimum, 1)} {unit}")
    if not minimum <= found[0] <= found[1] or found[1] < 1:
        raise InvalidArgument(f"{option} {text}: give MIN..MAX with {minimum} <= MIN <= MAX and MAX >= 1")
    return found
