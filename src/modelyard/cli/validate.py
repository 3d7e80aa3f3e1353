"""`modelyard validate NAME --candidate staging --baseline production`: the same requests through both versions,
and a verdict with a line per check. Exit 0 pass, 10 fail, 11 inconclusive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.render import out, print_json
from modelyard.cli.state import state
from modelyard.errors import InvalidArgument, NotFound


def validate(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    candidate: Annotated[str, typer.Option(help="The candidate: an alias or a version number.")] = "staging",
    baseline: Annotated[str, typer.Option(help="What it must match: an alias or a version number.")] = "production",
    since: Annotated[
        str | None, typer.Option(help="Replay the baseline's traffic recorded since: 90s, 30m, 2h, 7d (default: all).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Replay these requests instead: .npz or .parquet, a row per request.")
    ] = None,
    policy: Annotated[Path | None, typer.Option(help="A YAML file of the checks' bounds to change.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare CANDIDATE with BASELINE on the same requests (recorded traffic, or --data) and say pass, fail or
    inconclusive, with the checks that decided it."""
    from modelyard.datafiles import read_inputs
    from modelyard.manifest import read_manifest
    from modelyard.server.repository.sources import SourceResolver
    from modelyard.traffic.reader import parse_since
    from modelyard.validation import Policy
    from modelyard.validation.replay import split_rows
    from modelyard.validation.replay import validate as run

    s = state(ctx)
    registry = s.registry()
    chosen = {role: registry.get(f"{name}/{ref}" if ref.isdigit() else f"{name}@{ref}")
              for role, ref in (("baseline", baseline), ("candidate", candidate))}  # fmt: skip
    if chosen["baseline"].version == chosen["candidate"].version:
        raise InvalidArgument(f"--candidate and --baseline are both {name}/{chosen['baseline'].version}")
    resolver = SourceResolver(s.settings.home_dir / "cache", registry)
    sources = {role: resolver.spec_for(version) for role, version in chosen.items()}
    signatures = {role: read_manifest(Path(src.package_dir)).signature for role, src in sources.items()}
    if data is not None:
        datatypes = {i.name: i.datatype for i in signatures["baseline"].inputs}
        requests = split_rows(read_inputs([str(data)], datatypes))
        source = str(data)
    else:
        started = parse_since(since) if since else None
        ref = f"{name}/{chosen['baseline'].version}"
        try:
            requests = registry.traffic(ref, since=started).requests()
        except NotFound:
            raise NotFound(f"no recorded traffic of {ref}: serve it with --log-sample, or give --data FILE") from None
        source = f"traffic of {ref}" + (f" since {since}" if since else "")
    rules = Policy.load(policy) if policy else Policy()
    verdict = run(sources["baseline"], sources["candidate"], (signatures["baseline"], signatures["candidate"]),
                  requests, rules)  # fmt: skip
    report: dict[str, Any] = {
        "verdict": verdict.outcome,
        "model": name,
        "baseline": {"version": chosen["baseline"].version, "sha256": chosen["baseline"].sha256},
        "candidate": {"version": chosen["candidate"].version, "sha256": chosen["candidate"].sha256},
        "requests": len(requests),
        "source": source,
        "policy": rules.model_dump(),
        "checks": [vars(c) | {"line": c.line} for c in verdict.checks],
    }
    if as_json:
        print_json(report)
    else:
        b, c = chosen["baseline"].version, chosen["candidate"].version
        out.print(f"{name}/{c} against {name}/{b} on {len(requests)} requests ({source}): {verdict.outcome}",
                  markup=False)  # fmt: skip
        for line in (c.line for c in verdict.checks):
            out.print(f"  {line}", markup=False, highlight=False)
    raise typer.Exit(verdict.exit_code)
