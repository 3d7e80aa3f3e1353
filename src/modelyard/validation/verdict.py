"""pass, fail or inconclusive, from the checks: any failure fails; else anything undecided is inconclusive."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from modelyard.validation.checks import Check

Outcome = Literal["pass", "fail", "inconclusive"]
EXIT_CODES = {"pass": 0, "fail": 10, "inconclusive": 11}


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    checks: tuple[Check, ...]

    @property
    def reasons(self) -> list[str]:
        """One line per check that did not pass (every line for a pass)."""
        failing = [c for c in self.checks if c.passed is not True]
        return [c.line for c in failing] or [c.line for c in self.checks]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


def decide(checks: Sequence[Check]) -> Verdict:
    if any(c.passed is False for c in checks):
        return Verdict("fail", tuple(checks))
    if any(c.passed is None for c in checks):
        return Verdict("inconclusive", tuple(checks))
    return Verdict("pass", tuple(checks))
