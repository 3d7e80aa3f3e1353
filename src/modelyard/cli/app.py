"""The `modelyard` command. Errors surface as one line on stderr and the error's exit code; --debug adds the
traceback."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from modelyard.cli.argv import command_of
from modelyard.cli.polish import ClickException, UsageError, polish, usage_line
from modelyard.cli.render import err, out
from modelyard.cli.state import CliState, state
from modelyard.errors import ModelyardError
from modelyard.settings import Settings

# name -> (module, attribute, a group of subcommands?), in the order of `--help`. Imported only when needed: a
# command builds a Typer app of the root and itself, not the whole tree (typer reads every command's signature,
# and the other commands' modules weigh on the start of `serve`, which races the server's imports).
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "models": ("modelyard.cli.models", "app", True),
    "alias": ("modelyard.cli.alias", "app", True),
    "traffic": ("modelyard.cli.traffic", "app", True),
    "validate": ("modelyard.cli.validate", "validate", False),
    "validations": ("modelyard.cli.validate", "validations", False),
    "promote": ("modelyard.cli.validate", "promote", False),
    "gate": ("modelyard.cli.validate", "gate", False),
    "policy": ("modelyard.cli.policy", "app", True),
    "reference": ("modelyard.cli.drift", "app", True),
    "drift": ("modelyard.cli.drift", "drift", False),
    "monitor": ("modelyard.cli.drift", "monitor", False),
    "alerts": ("modelyard.cli.drift", "alerts", False),
    "package": ("modelyard.cli.package", "package", False),
    "serve": ("modelyard.cli.serve", "serve", False),
    "infer": ("modelyard.cli.infer", "infer", False),
    "batch": ("modelyard.cli.batch", "batch", False),
    "jobs": ("modelyard.cli.batch", "jobs", False),
    "autoscale": ("modelyard.cli.autoscale", "app", True),
    "deploy": ("modelyard.cli.deploy", "app", True),
    "servers": ("modelyard.cli.servers", "servers", False),
    "ui": ("modelyard.cli.ui", "ui", False),
    "gc": ("modelyard.cli.gc", "gc", False),
    "bench": ("modelyard.cli.bench", "bench", False),
    "profile": ("modelyard.cli.profile", "profile", False),
    "demo": ("modelyard.cli.app", "demo", False),
}


def build(only: str | None = None) -> typer.Typer:
    """The whole command tree, or the root and the one command `only` names (a name we don't know builds the
    whole tree, so that typer's own "No such command" and `--help` are what the user sees)."""
    root = typer.Typer(
        name="modelyard",
        help="Package, register, serve and measure machine-learning models.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.callback()(_root)
    for name in [only] if only in COMMANDS else COMMANDS:
        module, attribute, group = COMMANDS[name]
        target = getattr(importlib.import_module(module), attribute)
        if group:
            root.add_typer(target, name=name)
        else:
            root.command(name=name)(target)
    return root


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole tree, for whoever embeds or documents the CLI
        return build()
    raise AttributeError(f"module 'modelyard.cli.app' has no attribute {name!r}")


def _version(shown: bool) -> None:
    if shown:
        from modelyard import __version__

        out.print(f"modelyard {__version__}", markup=False)
        raise typer.Exit()


def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(help="Registry home (default: $MODELYARD_HOME or ~/.modelyard).", show_default=False),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_version)
    ] = False,
) -> None:
    settings = Settings(home=home) if home else Settings()
    ctx.obj = CliState(settings=settings, debug=debug)
    ctx.call_on_close(ctx.obj.close)


def demo(
    ctx: typer.Context,
    serve: Annotated[bool, typer.Option(help="Start the server on the production models afterwards.")] = True,
    http_port: Annotated[int | None, typer.Option(help="HTTP port (default 8000).")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="gRPC port (default 8001; 0 turns gRPC off).")] = None,
) -> None:
    """Build the example models, register them, set their aliases, and serve the production versions."""
    from modelyard.cli.render import models_table
    from modelyard.cli.serve import serve_spec, start_server
    from modelyard.demo import prepare_demo
    from modelyard.server.repository.sources import SourceResolver

    s = state(ctx)
    registry = s.registry()
    for line in prepare_demo(registry, s.settings.home_dir / "examples"):
        out.print(line)
    out.print(models_table(registry.list_models().items))
    if not serve:
        return
    specs, rules = SourceResolver(s.settings.home_dir / "cache", registry).resolve([], alias="production")
    port = http_port if http_port is not None else s.settings.server.http_port
    spec = serve_spec(s, specs, rules, follow=True)
    if grpc_port is not None:
        spec.grpc_port = grpc_port
    start_server(s, spec, s.settings.server.host, port, s.settings.server.workers, {})


def main(argv: list[str] | None = None) -> None:
    """Every error is one line on stderr with its exit code: ours, the settings', and click's usage errors (2)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        command = polish(typer.main.get_command(build(command_of(args))))
        code = command.main(args=args, prog_name="modelyard", standalone_mode=False)
        if isinstance(code, int) and code:  # --help and --version return 0; Ctrl-C 130
            sys.exit(code)
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group named alone (`modelyard models`): its help
            out.print(exc.ctx.get_help(), markup=False, highlight=False)  # type: ignore[attr-defined]
            sys.exit(0)
        _fail(f"error: {usage_line(exc)}", exc.exit_code)  # type: ignore[attr-defined]
    except ClickException as exc:
        _fail(f"error: {exc.format_message()}", exc.exit_code)  # type: ignore[attr-defined]
    except typer.Abort:
        _fail("aborted", 130)
    except ModelyardError as exc:
        if debug:
            traceback.print_exc()
        _fail(f"error: {exc.message}", exc.exit_code)
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"error: settings: {'.'.join(map(str, first['loc']))}: {first['msg']}", 2)
    except Exception as exc:
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", 70)


def _fail(message: str, code: int) -> None:
    err.print(message, markup=False, style="red")
    sys.exit(code)
