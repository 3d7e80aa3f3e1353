"""`modelyard gc`: what the artifact store holds that no version needs, removed only when asked."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.render import out, print_json
from modelyard.cli.state import state


def gc(
    ctx: typer.Context,
    delete: Annotated[bool, typer.Option("--delete", help="Remove what is found (without it: a dry run).")] = False,
    min_age_h: Annotated[
        float, typer.Option(min=0, help="Keep anything younger: a registration may still be writing it.")
    ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False,
) -> None:
    """Find packages no version uses and copies a killed registration left under tmp/; --delete removes them."""
    registry = state(ctx).registry()
    garbage = registry.garbage(min_age_s=min_age_h * 3600)
    if delete:
        registry.collect_garbage(garbage)
    if as_json:
        print_json({"packages": garbage.packages, "temporary": garbage.temporary, "deleted": delete})
        return
    verb = "removed" if delete else "would remove"
    for sha in garbage.packages:
        out.print(f"{verb} package {sha} (no version uses it)")
    for name in garbage.temporary:
        out.print(f"{verb} tmp/{name} (a copy a registration left)")
    young = f"; {garbage.kept_young} younger than {min_age_h:g} h kept" if garbage.kept_young else ""
    if not garbage:
        out.print(f"nothing to collect{young}")
    elif not delete:
        out.print(f"dry run: nothing removed{young}; run `modelyard gc --delete` to remove these")
    else:
        out.print(f"{len(garbage.packages)} package(s), {len(garbage.temporary)} temporary copy(ies) removed{young}")
