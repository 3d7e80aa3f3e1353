"""Promotion, one rule for every door: the CLI's `promote` and the dashboard's button both call `promote`, so a
page can never move an alias that the command would refuse.

NAME@TO moves to NAME@FROM's version only on a passing validation of exactly these two versions under the policy
in force: the newest, if fresh; otherwise one is run now (on the baseline's recorded traffic, or the requests the
caller gives). A person may override a refusal with a reason; the alias event then says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelyard.errors import FailedPrecondition, InvalidArgument
from modelyard.registry import AliasEvent, Registry, Validation
from modelyard.validation.run import pick

Judge = Callable[[int, int], Validation]  # (candidate, baseline) -> a validation run now and recorded


class Refused(FailedPrecondition):
    """The alias stays: the validation (kept here, for the caller to show every check) did not pass."""

    def __init__(self, message: str, validation: Validation) -> None:
        super().__init__(message)
        self.validation = validation


@dataclass(frozen=True)
class Promotion:
    validation: Validation
    moved: AliasEvent
    override: bool


def stale(found: Validation | None, policy: dict[str, Any], fresh_after: datetime | None) -> bool:
    """A validation that cannot stand for this promotion: none, older than `fresh_after`, or judged by other
    bounds than the policy in force."""
    if found is None or found.policy != policy:
        return True
    return fresh_after is not None and found.at < fresh_after


def promote(
    registry: Registry,
    name: str,
    source: str,
    target: str,
    policy: dict[str, Any],
    judge: Judge,
    fresh_after: datetime | None = None,
    rerun_failed: bool = False,
    force: bool = False,
    reason: str = "",
    expect: tuple[int | None, int | None] | None = None,
) -> Promotion:
    """Move `name@target` to `name@source`'s version, citing the validation; otherwise Refused, naming the first
    failing check and carrying the validation. `expect`: the (source, target) versions the caller saw (a page's
    form): if either alias has moved since, nothing changes. `rerun_failed`: judge again a pair whose last verdict
    was not a pass (the caller brought new requests)."""
    if force and not reason:
        raise InvalidArgument("force: say why with a reason; an override is recorded with it")
    candidate, baseline = pick(registry, name, source), pick(registry, name, target)
    if expect is not None and expect != (candidate.version, baseline.version):
        raise FailedPrecondition(
            f"the page was stale: {name}@{source} is {candidate.version} and {name}@{target} is {baseline.version} "
            f"now, not {expect[0]} and {expect[1]}; nothing changed, look again"
        )
    found = registry.latest_validation(name, candidate.version, baseline.version)
    if stale(found, policy, fresh_after) or (found is not None and found.verdict != "pass" and rerun_failed):
        found = judge(candidate.version, baseline.version)
    assert found is not None
    evidence: dict[str, Any] = {"validation": found.id, "verdict": found.verdict}
    if found.verdict != "pass":
        if not force:
            first = found.failing[0] if found.failing else ""
            raise Refused(
                f"{name}@{target} stays at {baseline.version}: validation #{found.id} of {candidate.version} says "
                f"{found.verdict}: {first}".rstrip(": "),
                found,
            )
        evidence["override"] = True
    try:  # the baseline judged must still be the target's: a move made while the validation ran is not undone
        moved = registry.set_alias(name, target, candidate.version, reason or f"validation #{found.id}: pass",
                                   evidence, expect=baseline.version)  # fmt: skip
    except FailedPrecondition as error:
        raise FailedPrecondition(f"{error}; the validation judged {baseline.version}, promote again") from None
    return Promotion(found, moved, bool(evidence.get("override")))
