"""`modelyard alias ...`: move aliases, list them, read their history, roll back.

Every command names its alias as every other command names a model, `fraud@production`; `fraud production`, two
words, works too."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.render import alias_move, aliases_table, history_table, out, print_json
from modelyard.cli.state import state
from modelyard.errors import InvalidArgument

app = typer.Typer(
    help="Point aliases (staging, production, ...) at versions; every move is recorded.", no_args_is_help=True
)
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why; kept in the history.")]
Target = Annotated[list[str], typer.Argument(metavar="NAME@ALIAS", help="The alias, e.g. fraud@production.")]


def alias_words(words: list[str], command: str, version: bool = False) -> tuple[str, str, int | None]:
    """NAME@ALIAS [VERSION], or NAME ALIAS [VERSION]."""
    usage = f"alias {command} NAME@ALIAS{' VERSION' if version else ''}"
    if words and "@" in words[0]:
        name, _, alias = words[0].partition("@")
        rest = words[1:]
    else:
        name, alias, rest = (words[0], words[1], words[2:]) if len(words) >= 2 else ("", "", [])
    if not name or not alias or len(rest) != int(version):
        raise InvalidArgument(f"expected {usage}, e.g. fraud@production{' 2' if version else ''}")
    if not version:
        return name, alias, None
    if not rest[0].isdigit():
        raise InvalidArgument(f"version: expected a version number, got {rest[0]!r} ({usage})")
    return name, alias, int(rest[0])


@app.command("set")
def set_alias(
    ctx: typer.Context,
    target: Annotated[
        list[str], typer.Argument(metavar="NAME@ALIAS VERSION", help="The alias and the version to point it at.")
    ],
    reason: Reason = "",
) -> None:
    """Point NAME@ALIAS at VERSION (fraud@production 2)."""
    name, alias, version = alias_words(target, "set", version=True)
    assert version is not None
    out.print(alias_move(state(ctx).registry().set_alias(name, alias, version, reason)))


@app.command("list")
def list_aliases(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this model's aliases (default: every model's).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every alias, the version it points at, and its last move (when, who, why)."""
    registry = state(ctx).registry()
    models = [registry.model(name)] if name else registry.list_models(page_size=1000).items
    rows = []
    for model in models:
        last = {e.alias: e for e in registry.history(model.name)} if model.aliases else {}
        rows += [(model.name, alias, version, last.get(alias)) for alias, version in sorted(model.aliases.items())]
    if as_json:
        print_json([{"name": n, "alias": a, "version": v, "moved": e} for n, a, v, e in rows])
    else:
        out.print(aliases_table(rows))


@app.command()
def rollback(ctx: typer.Context, target: Target, reason: Reason = "") -> None:
    """Move NAME@ALIAS back to where it was before its last move. Repeat to walk further back."""
    name, alias, _ = alias_words(target, "rollback")
    out.print(alias_move(state(ctx).registry().rollback(name, alias, reason)))


@app.command()
def delete(ctx: typer.Context, target: Target, reason: Reason = "") -> None:
    """Remove an alias (recorded; a rollback restores it)."""
    name, alias, _ = alias_words(target, "delete")
    out.print(alias_move(state(ctx).registry().delete_alias(name, alias, reason)))


@app.command()
def history(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="NAME[@ALIAS]", help="A model, or one of its aliases.")],
    alias: Annotated[str | None, typer.Argument(help="Only this alias (or NAME@ALIAS).", hidden=True)] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every move of the model's aliases, oldest first, numbered from 1."""
    name, _, named = target.partition("@")
    events = state(ctx).registry().history(name, named or alias)
    if as_json:
        print_json(events)
    else:
        out.print(history_table(events))
