"""The command line as the console script reads it before Typer: which command, and whether it may serve."""

from __future__ import annotations

import pytest
import typer

from modelyard.cli.app import build
from modelyard.cli.argv import ROOT_OPTIONS_WITH_VALUE, command_of, grpc_off, may_serve


@pytest.mark.parametrize(
    ("args", "command", "serves"),
    [
        (["serve", "m.onnx"], "serve", True),
        (["--home", "/tmp/h", "--debug", "serve", "x@production"], "serve", True),
        (["--home", "serve", "demo"], "demo", True),  # a home folder named `serve`
        (["demo"], "demo", True),
        (["demo", "--no-serve"], "demo", False),
        (["serve", "--help"], "serve", False),
        (["models", "list"], "models", False),
        (["--debug"], None, False),
    ],
)
def test_only_commands_that_start_a_server_split(args: list[str], command: str | None, serves: bool) -> None:
    assert command_of(args) == command
    assert may_serve(args) is serves


def test_the_root_options_with_a_value_are_the_root_commands_own() -> None:
    """Written once more here because Typer is not imported yet: a root option added without it would be read
    as the subcommand."""
    root = typer.main.get_command(build("models"))
    options = [p for p in root.params if p.param_type_name == "option"]
    assert len(options) >= 2  # --home, --debug
    taking_values = {name for p in options if not getattr(p, "is_flag", False) for name in p.opts}
    assert taking_values == ROOT_OPTIONS_WITH_VALUE


@pytest.mark.parametrize(
    ("args", "off"),
    [(["serve", "--grpc-port", "0"], True), (["serve", "--grpc-port=0"], True),
     (["serve", "--grpc-port", "8001"], False), (["serve", "m", "0"], False)],
)  # fmt: skip
def test_grpc_off_only_when_its_port_is_zero(args: list[str], off: bool) -> None:
    assert grpc_off(args) is off
