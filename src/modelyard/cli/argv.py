"""What the console script reads from the command line before Typer is imported: the subcommand, and whether the
command may start a server (then the process splits in two before the CLI runs: server/process/handoff.py)."""

from __future__ import annotations

import itertools

ROOT_OPTIONS_WITH_VALUE = frozenset({"--home"})  # `_root`'s options that take a value (tests/cli check they agree)
SERVING = frozenset({"serve", "demo"})  # the commands that may end by starting a server


def command_of(args: list[str]) -> str | None:
    """The subcommand named in `args` after the root options, as Typer would read it."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ROOT_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def may_serve(args: list[str]) -> bool:
    return command_of(args) in SERVING and not {"--help", "--no-serve"} & set(args)


def grpc_off(args: list[str]) -> bool:
    """`--grpc-port 0` on the command line."""
    return "--grpc-port=0" in args or any(a == "--grpc-port" and b == "0" for a, b in itertools.pairwise(args))
