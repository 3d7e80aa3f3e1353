"""`modelyard alias ...`: move aliases, read their history, roll back."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.render import alias_move, history_table, out, print_json
from modelyard.cli.state import state

app = typer.Typer(
    help="Point aliases (staging, production, ...) at versions; every move is recorded.", no_args_is_help=True
)
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why; kept in the history.")]


@app.command("set")
def set_alias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. production.")],
    version: Annotated[int, typer.Argument(help="Version number to point at.")],
    reason: Reason = "",
) -> None:
    """Point NAME@ALIAS at VERSION."""
    out.print(alias_move(state(ctx).registry().set_alias(name, alias, version, reason)))


@app.command()
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    alias: Annotated[str, typer.Argument()],
    reason: Reason = "",
) -> None:
    """Move NAME@ALIAS back to where it was before its last move. Repeat to walk further back."""
    out.print(alias_move(state(ctx).registry().rollback(name, alias, reason)))


@app.command()
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    alias: Annotated[str, typer.Argument()],
    reason: Reason = "",
) -> None:
    """Remove an alias (recorded; a rollback restores it)."""
    out.print(alias_move(state(ctx).registry().delete_alias(name, alias, reason)))


@app.command()
def history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    alias: Annotated[str | None, typer.Argument(help="Only this alias (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every move of the model's aliases, oldest first."""
    events = state(ctx).registry().history(name, alias)
    if as_json:
        print_json(events)
    else:
        out.print(history_table(events))
