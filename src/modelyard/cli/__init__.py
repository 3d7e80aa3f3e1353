"""Command-line interface (Typer + Rich).

`main` is the console script. It imports the application only after deciding whether the command may start a
server: `serve` and `demo` first split into the CLI and a server process that imports its stack meanwhile
(`modelyard.server.process.handoff`).
"""

from __future__ import annotations

import sys
from typing import Any


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if argv is None:
        from modelyard.cli.argv import grpc_off, may_serve

        if may_serve(args):
            from modelyard.server.process import handoff

            if handoff.supported():
                handoff.split(preload_grpc=not grpc_off(args))
    from modelyard.cli.app import main as run

    run(args)


def __getattr__(name: str) -> Any:
    if name == "app":
        from modelyard.cli.app import app

        return app
    raise AttributeError(f"module 'modelyard.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
