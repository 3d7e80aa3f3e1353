"""`modelyard validate`, `validations` and `promote`: compare a candidate with a baseline on the same requests,
keep the verdict as evidence, and move an alias only on that evidence. A verdict's exit code: 0 pass, 10 fail,
11 inconclusive."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.render import alias_move, err, out, print_json
from modelyard.cli.state import CliState, state
from modelyard.errors import InvalidArgument
from modelyard.registry import Validation

EXIT_CODES = {"pass": 0, "fail": 10, "inconclusive": 11}
Since = Annotated[
    str | None,
    typer.Option(
        "--traffic",
        "--since",
        help="Replay the baseline's traffic recorded since: 90s, 30m, 2h, 7d (the default source; default: all of it).",
    ),
]
Data = Annotated[Path | None, typer.Option(help="Replay these requests instead: .npz or .parquet, a row per request.")]
Labels = Annotated[
    str | None,
    typer.Option(help="--data's column of true labels or targets: accuracy, AUC or RMSE compared by paired tests."),
]
PolicyFile = Annotated[
    Path | None,
    typer.Option("--policy", help="A YAML file of the bounds to change (default: the model's `policy set`, if any)."),
]
Name = Annotated[str, typer.Argument(help="Model name.")]
Candidate = Annotated[str, typer.Option(help="The candidate: an alias (whose moves the gate judges) or a version.")]
Baseline = Annotated[str, typer.Option(help="What it must match (and is promoted to): an alias or a version.")]


def _run(s: CliState, name: str, candidate: str, baseline: str, since: str | None, data: Path | None,
         policy: Path | None, shadow: bool = False, labels: str | None = None) -> Validation:  # fmt: skip
    from modelyard.traffic.reader import parse_since
    from modelyard.validation.policy import policy_for
    from modelyard.validation.run import judge_shadow, pick, requests_for, run

    registry = s.registry()
    chosen = pick(registry, name, baseline), pick(registry, name, candidate)
    rules = policy_for(registry, name, policy)
    if shadow:
        return judge_shadow(registry, chosen[0], chosen[1], rules, parse_since(since) if since else None)
    if data is not None and since is not None:
        raise InvalidArgument("--traffic and --data are two sources of requests; give one")
    requests = requests_for(registry, chosen[0], data, parse_since(since) if since else None, since or "", labels)
    return run(registry, s.settings.home_dir / "cache", chosen[0], chosen[1], requests, rules)


def _show(found: Validation) -> None:
    out.print(f"validation #{found.id}: {found.name}/{found.candidate_version} against {found.name}/"
              f"{found.baseline_version} on {found.requests} requests ({found.source}): {found.verdict}",
              markup=False)  # fmt: skip
    for check in found.checks:
        out.print(f"  {check['line']}", markup=False, highlight=False)


def validate(
    ctx: typer.Context,
    name: Name,
    candidate: Candidate = "staging",
    baseline: Baseline = "production",
    since: Since = None,
    data: Data = None,
    labels: Labels = None,
    policy: PolicyFile = None,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Judge the pairs a `serve --shadow` logged instead.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare CANDIDATE with BASELINE on the same requests (recorded traffic, or --data), say pass, fail or
    inconclusive with the checks that decided it, and record it in the registry."""
    found = _run(state(ctx), name, candidate, baseline, since, data, policy, shadow, labels)
    if as_json:
        print_json(found)
    else:
        _show(found)
    raise typer.Exit(EXIT_CODES[found.verdict])


def validations(
    ctx: typer.Context,
    name: Name,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The model's recorded validations, newest first: the versions compared, the data, the verdict."""
    found = state(ctx).registry().validations(name, limit)
    if as_json:
        print_json(found)
        return
    table = Table("#", "when", "candidate", "baseline", "requests", "verdict", "first failing check", "by")
    for v in found:
        first = v.failing[0] if v.verdict != "pass" and v.failing else ""
        table.add_row(str(v.id), f"{v.at:%Y-%m-%d %H:%M:%S}", str(v.candidate_version), str(v.baseline_version),
                      str(v.requests), v.verdict, first, v.actor)  # fmt: skip
    out.print(table)


def promote(
    ctx: typer.Context,
    name: Name,
    from_: Annotated[str, typer.Option("--from", help="The alias whose version is promoted.")] = "staging",
    to: Annotated[str, typer.Option("--to", help="The alias it moves to that version.")] = "production",
    max_age: Annotated[str, typer.Option(help="A passing validation older than this is run again.")] = "24h",
    since: Since = None,
    data: Data = None,
    labels: Labels = None,
    policy: PolicyFile = None,
    force: Annotated[bool, typer.Option(help="Move it whatever the verdict (needs --reason; recorded).")] = False,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why; kept in the alias history.")] = "",
) -> None:
    """Point NAME@TO at NAME@FROM's version, only on a passing validation of exactly these two versions under
    this policy (the newest, if fresh; otherwise one is run now). The alias event cites the validation."""
    from modelyard.traffic.reader import parse_since
    from modelyard.validation.policy import policy_for
    from modelyard.validation.promote import Refused
    from modelyard.validation.promote import promote as move

    s = state(ctx)
    if force and not reason:
        raise InvalidArgument("--force: say why with --reason; an override is recorded with it")
    registry = s.registry()
    rules = policy_for(registry, name, policy).model_dump()
    fresh_after = datetime.fromtimestamp(parse_since(max_age), UTC) if max_age else None

    def judge(candidate: int, baseline: int) -> Validation:
        return _run(s, name, str(candidate), str(baseline), since, data, policy, labels=labels)

    try:
        done = move(registry, name, from_, to, rules, judge, fresh_after, bool(data or since), force, reason)
    except Refused as refused:
        _show(refused.validation)
        raise
    _show(done.validation)
    if done.override:
        err.print(f"override: {name}@{to} moves although validation #{done.validation.id} says "
                  f"{done.validation.verdict}", style="yellow")  # fmt: skip
    out.print(alias_move(done.moved))


def gate(
    ctx: typer.Context,
    name: Name,
    candidate: Candidate = "staging",
    baseline: Baseline = "production",
    policy: PolicyFile = None,
    interval_s: Annotated[float, typer.Option(min=0.1, help="How often to look at the registry.")] = 30.0,
    once: Annotated[bool, typer.Option(help="Look once, act, and exit (for cron or CI).")] = False,
) -> None:
    """Watch CANDIDATE: validate each version it points at against BASELINE's recorded traffic, record the
    verdict, and promote a pass by itself where the policy says auto_promote: true."""
    import time

    from modelyard.validation.gate import Gate
    from modelyard.validation.policy import policy_for

    s = state(ctx)
    registry = s.registry()
    watcher = Gate.replaying(registry, name, policy_for(registry, name, policy), s.settings.home_dir / "cache",
                             candidate, baseline)  # fmt: skip
    said = ""
    while True:
        watcher.policy = policy_for(registry, name, policy)  # a `policy set` applies from the next look on
        action, line = watcher.step()
        if line and line != said:
            out.print(f"{datetime.now(UTC):%H:%M:%S} {action}: {line}", markup=False)
            said = line
        if once:
            return
        time.sleep(interval_s)
