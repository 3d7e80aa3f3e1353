"""`modelyard policy ...`: the bounds a model is judged by, kept in the registry with the model, so that
`validate`, `promote` and the gate judge it alike without a file passed around."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.render import out, print_json
from modelyard.cli.state import state
from modelyard.errors import InvalidArgument

app = typer.Typer(help="The bounds each model's validations use, kept in the registry.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="Model name.")]
Kind = Annotated[str, typer.Option(help="gate (validate, promote, gate) or monitor (modelyard monitor).")]


def _changed(kind: str, file: Path) -> dict[str, object]:
    if kind == "monitor":
        from modelyard.monitoring.alerts import MonitorPolicy

        return MonitorPolicy.load(file).model_dump(exclude_defaults=True)
    if kind == "gate":
        from modelyard.validation.policy import Policy

        return Policy.load(file).changed()
    raise InvalidArgument(f"--kind {kind}: gate or monitor")


@app.command("set")
def set_policy(
    ctx: typer.Context,
    name: Name,
    file: Annotated[Path, typer.Argument(help="A YAML file of the bounds to change (as validate --policy takes).")],
    kind: Kind = "gate",
) -> None:
    """Keep FILE's bounds as NAME's policy: validate, promote and gate use them (`--kind monitor`: the monitor)
    when no --policy is given. A file they would refuse is refused here, and nothing is stored."""
    stored = state(ctx).registry().set_policy(name, kind, _changed(kind, file))
    changed = ", ".join(f"{k}: {v}" for k, v in stored.fields.items()) or "the defaults"
    out.print(f"{name}: policy #{stored.id} in force ({changed})", markup=False)


@app.command("show")
def show_policy(
    ctx: typer.Context,
    name: Name,
    history: Annotated[bool, typer.Option("--history", help="Every policy the model had, oldest first.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """NAME's policy in force: every bound, the ones changed from the defaults marked; or its history."""
    from modelyard.validation.policy import KIND, Policy, policy_for

    registry = state(ctx).registry()
    if history:
        found = registry.policy_history(name, KIND)
        if as_json:
            print_json(found)
            return
        table = Table("#", "when", "by", "changed from the defaults")
        for p in found:
            table.add_row(str(p.id), f"{p.at:%Y-%m-%d %H:%M:%S}", p.actor,
                          ", ".join(f"{k}: {v}" for k, v in p.fields.items()) or "(none)")  # fmt: skip
        out.print(table)
        return
    rules, stored = policy_for(registry, name), registry.policy(name, KIND)
    if as_json:
        print_json({"name": name, "stored": stored, "policy": rules.model_dump()})
        return
    where = f"policy #{stored.id}, set by {stored.actor} at {stored.at:%Y-%m-%d %H:%M:%S}" if stored else "defaults"
    table = Table("bound", "value", "", title=f"{name}: {where}", title_justify="left")
    defaults = Policy().model_dump()
    for key, value in rules.model_dump().items():
        table.add_row(key, str(value), "changed" if value != defaults[key] else "")
    out.print(table)
