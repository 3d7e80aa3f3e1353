"""How the command tree reads to a person: plain help that fits 80 columns, named metavars, one-line usage errors.

Typer's rich help draws boxes whose columns cut option names at 80 columns (`--max-queue-dela…`) and shows each
value's Python type (`<bool>` beside a flag, `<list[str]>`); its usage errors are five-line boxes, where every other
error of this CLI is one line. Click's plain help is compact; what it lacks, metavars that say what a value is, is
set here once for every command from the option's name and type, rather than by hand in each of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

# click's exceptions, from the click that typer runs on (recent typer carries a copy of its own): BadParameter is
# public, its bases are the usage error and the click error.
UsageError: type[Exception] = typer.BadParameter.__mro__[1]
ClickException: type[Exception] = UsageError.__mro__[1]

# An option's last word -> its metavar, where the type alone says too little.
WORDS = {"port": "PORT", "token": "TOKEN", "host": "HOST", "url": "URL", "versions": "POLICY", "name": "NAME"}


def polish(command: Any) -> Any:
    """`command`: the click command typer built (typer.main.get_command)."""
    for cmd in _walk(command):
        cmd.rich_markup_mode = None  # typer's commands read it; plain click ones ignore it
        for param in cmd.params:
            if getattr(param, "is_flag", False):
                param.show_default = False  # "[default: no-follow]" under every flag says nothing
            elif param.metavar is None or param.metavar.startswith("<"):
                param.metavar = metavar(param)
            if param.param_type_name == "argument" and hasattr(param, "display_type_rich"):
                # recent typer writes the type after an argument's name (`TARGETS <list[str]>`); the name says it
                param.display_type_rich = lambda ctx: ""
            if hasattr(param, "_get_number_range_help_str"):  # "[x>=1]" in words
                param._get_number_range_help_str = lambda p=param: number_range(getattr(p, "min", None), p.max)
    return command


def number_range(low: float | None, high: float | None) -> str | None:
    if low is None and high is None:
        return None
    if high is None:
        return f"at least {low}"
    return f"at most {high}" if low is None else f"{low} to {high}"


def metavar(param: Any) -> str:
    """From typer's description of the parameter (its annotation), where there is one."""
    name = param.name or "value"
    if param.param_type_name == "argument":
        return name.upper()
    described = getattr(param, "type_descriptor", None)
    choices = getattr(described, "choices", None)
    if choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
    word = name.rsplit("_", 1)[-1]
    if word in WORDS:
        return WORDS[word]
    if getattr(described, "is_path", False):
        return "PATH"
    annotation = getattr(described, "annotation", None)
    if getattr(described, "is_list", False):
        annotation = next(iter(getattr(annotation, "__args__", ())), None)
    if annotation is int:
        return "N"
    if annotation is float:
        return "SECONDS" if name.endswith("_s") else "X"
    return word.upper()


def _walk(command: Any) -> Iterator[Any]:
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _walk(sub)


def usage_line(exc: Any) -> str:
    """`alias set: missing argument VERSION (see modelyard alias set --help)`: what the box said, in one line."""
    path = exc.ctx.command_path if getattr(exc, "ctx", None) else "modelyard"
    where = path.split(" ", 1)[1] + ": " if " " in path else ""
    message = exc.format_message().rstrip(".")
    return f"{where}{message[:1].lower()}{message[1:]} (see {path} --help)"
