"""`modelyard servers`: the live servers the registry knows (discovery), optionally those serving one model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from modelyard.cli.render import out, print_json, servers_table
from modelyard.cli.state import state


def servers(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only servers serving this model (name or name@alias).")] = None,
    stale_after_s: Annotated[
        float | None, typer.Option(min=0.001, help="Ignore entries without a heartbeat for this long (default 30 s).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List live servers: their endpoints, the models and versions they serve, readiness and last heartbeat."""
    s = state(ctx)
    stale = stale_after_s if stale_after_s is not None else s.settings.discovery.stale_after_s
    found = s.registry().servers(model, stale_after_s=stale)
    if as_json:
        print_json(found)
    elif not found:
        out.print(f"no live server{' serves ' + model if model else ''} (heartbeat within {stale:g} s)")
    else:
        out.print(servers_table(found, datetime.now(UTC)))
