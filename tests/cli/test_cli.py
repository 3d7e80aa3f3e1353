"""The real `modelyard` command in a subprocess, as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.table import Table

from modelyard.cli.render import console
from modelyard.testing import assert_one_line_error, run_cli

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter
run = run_cli


def test_register_alias_history_rollback(tmp_path: Path, mlp_path: Path) -> None:
    home = tmp_path / "home"
    reg = run(
        home,
        "models",
        "register",
        str(mlp_path),
        "--name",
        "fraud",
        "--metric",
        "auc=0.93",
        "--param",
        "lr=0.01",
        "--tag",
        "team=risk",
        "--lineage",
        "run_id=r7",
        "-d",
        "first",
        "--json",
    )
    version = json.loads(reg.stdout)
    assert (version["version"], version["metrics"], version["source"]) == (1, {"auc": 0.93}, {"run_id": "r7"})
    run(home, "models", "register", str(mlp_path), "--name", "fraud")
    run(home, "alias", "set", "fraud", "production", "1", "--reason", "launch")
    moved = run(home, "alias", "set", "fraud", "production", "2", "-r", "retrain")
    assert "1 → 2" in moved.stdout
    back = run(home, "alias", "rollback", "fraud", "production", "-r", "regression")
    assert "2 → 1 (rollback)" in back.stdout
    shown = json.loads(run(home, "models", "show", "models:/fraud@production", "--json").stdout)
    assert shown["version"] == 1
    assert shown["aliases"] == ["production"]
    history = json.loads(run(home, "alias", "history", "fraud", "production", "--json").stdout)
    assert [(e["kind"], e["to_version"], e["reason"]) for e in history] == [
        ("set", 1, "launch"),
        ("set", 2, "retrain"),
        ("rollback", 1, "regression"),
    ]
    found = json.loads(run(home, "models", "search", "--tag", "team=risk", "--json").stdout)
    assert [v["version"] for v in found["items"]] == [1]
    listed = run(home, "models", "list").stdout
    assert "fraud" in listed
    assert "production→1" in listed


def test_package_then_register_sklearn_warns_about_pickles(
    tmp_path: Path, sklearn_model: tuple[Path, np.ndarray]
) -> None:
    path, example = sklearn_model
    np.save(tmp_path / "example.npy", example)
    packaged = run(
        tmp_path / "home",
        "package",
        str(path),
        str(tmp_path / "pkg"),
        "--example",
        str(tmp_path / "example.npy"),
    )
    assert "predict_proba" in packaged.stdout
    assert "runs its code" in packaged.stderr
    registered = run(tmp_path / "home", "models", "register", str(tmp_path / "pkg"), "--name", "churn")
    assert "models:/churn/1" in registered.stdout
    run(tmp_path / "home", "models", "download", "churn/1", str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "modelyard.yaml").is_file()


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["models", "show", "models:/nope/3"], 3, "model 'nope' is not registered"),
        (["models", "show", "bad ref!"], 2, "model reference"),
        (["models", "register", "/does/not/exist"], 2, "does not exist"),
        (["models", "register", "{mlp}", "--metric", "auc=high"], 2, "--metric auc=high"),
        (["models", "register", "{mlp}", "--tag", "novalue"], 2, "--tag 'novalue'"),
        (["alias", "rollback", "fraud", "production"], 3, "not registered"),
        (["alias", "set", "fraud", "latest", "1"], 2, "reserved"),
        (["models", "search", "--page-token", "garbage"], 2, "page_token"),
        # usage errors: one line, as every other error (they were Typer's five-line boxes)
        (["alias", "set", "fraud@staging"], 2, "expected alias set NAME@ALIAS VERSION"),
        (["alias", "set", "fraud@staging", "two"], 2, "version: expected a version number, got 'two'"),
        (["models", "show"], 2, "models show: missing argument 'REF' (see modelyard models show --help)"),
        (["serve", "--workers", "0"], 2, "--workers 0: give at least 1 worker"),
        (["serve", "--bogus"], 2, "serve: no such option: --bogus"),
        (["models", "update", "fraud"], 2, "nothing to change"),
        (["serve", "frod.onnx", "--name", "fraud"], 3, "no such file or folder: frod.onnx"),
    ],
)
def test_errors_are_one_line_without_traceback(
    tmp_path: Path, mlp_path: Path, args: list[str], code: int, text: str
) -> None:
    argv = [a.replace("{mlp}", str(mlp_path)) for a in args]
    assert_one_line_error(run(tmp_path / "home", *argv, ok=False), code, text)


def test_help_fits_80_columns_names_its_values_and_the_version_is_one_line(tmp_path: Path) -> None:
    env = {"COLUMNS": "80"}
    shown = subprocess.run([sys.executable, "-m", "modelyard", "serve", "--help"], capture_output=True, text=True,
                           env={**os.environ, **env, "MODELYARD_HOME": str(tmp_path)}, check=True).stdout  # fmt: skip
    assert "--max-queue-delay-us N" in shown  # whole, where rich's columns cut it to `--max-queue-dela…`
    assert "--http-port PORT" in shown
    assert "--tls-cert PATH" in shown
    assert "<" not in shown  # no `<bool>`, `<list[str]>` or `<int range>`
    assert max(map(len, shown.splitlines())) <= 80
    assert "How long a batch may wait" in shown  # every option says what it is for
    version = run(tmp_path, "--version").stdout
    assert version.startswith("modelyard ")
    assert version.count("\n") == 1


def test_alias_by_reference_list_and_history_numbered_per_model(tmp_path: Path, mlp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "models", "register", str(mlp_path), "--name", "other")
    run(home, "alias", "set", "other@production", "1")  # an event of another model: ids no longer start at 1
    for _ in range(2):
        run(home, "models", "register", str(mlp_path), "--name", "fraud", "--description", "card fraud")
    assert "fraud@staging: none → 2" in run(home, "alias", "set", "fraud@staging", "2").stdout
    run(home, "alias", "set", "fraud", "production", "1", "--reason", "first")  # two words, as before
    listed = json.loads(run(home, "alias", "list", "fraud", "--json").stdout)
    assert [(a["alias"], a["version"], a["moved"]["reason"]) for a in listed] == [
        ("production", 1, "first"),
        ("staging", 2, ""),
    ]
    assert "other" in run(home, "alias", "list").stdout
    history = run(home, "alias", "history", "fraud").stdout
    assert "│ 2 │" in history
    assert "│ 3 │" not in history
    assert "production" not in run(home, "alias", "history", "fraud@staging").stdout
    run(home, "alias", "delete", "fraud@staging")
    assert json.loads(run(home, "models", "show", "fraud/2", "--json").stdout)["aliases"] == []


def test_models_update_sets_the_model_description_and_tags(tmp_path: Path, mlp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "models", "register", str(mlp_path), "--name", "fraud", "--description", "first words")
    assert "first words" in run(home, "models", "list").stdout  # the first version lends the model its own
    run(home, "models", "update", "fraud", "--description", "Card fraud scorer", "--tag", "team=risk", "--tag", "t=1")
    run(home, "models", "update", "fraud", "--untag", "t")
    (model,) = json.loads(run(home, "models", "list", "--json").stdout)["items"]
    assert (model["description"], model["tags"]) == ("Card fraud scorer", {"team": "risk"})


def test_delete_refused_while_aliased(tmp_path: Path, mlp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "models", "register", str(mlp_path), "--name", "fraud")
    run(home, "alias", "set", "fraud", "production", "1")
    assert_one_line_error(run(home, "models", "delete", "fraud/1", ok=False), 5, "fraud@production")
    run(home, "models", "delete", "fraud/1", "--force")
    assert_one_line_error(run(home, "models", "show", "fraud/1", ok=False), 3, "no version 1")


def test_serve_refuses_a_tampered_stored_package(tmp_path: Path, mlp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "models", "register", str(mlp_path), "--name", "m")
    (stored,) = (home / "artifacts" / "packages").iterdir()
    (stored / "model.onnx").write_bytes(b"swapped")
    assert_one_line_error(run(home, "serve", "m/1", ok=False), 8, "the stored package of models:/m/1 is damaged")


def test_serving_beyond_loopback_with_control_open_is_refused(tmp_path: Path, mlp_path: Path) -> None:
    proc = run(tmp_path / "home", "serve", str(mlp_path), "--host", "0.0.0.0", ok=False)
    assert_one_line_error(proc, 2, "--control-token")
    assert "--allow-open-control" in proc.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = run(tmp_path / "home", "--debug", "models", "show", "nope", ok=False)
    assert proc.returncode == 3
    assert "Traceback" in proc.stderr


def test_every_command_has_help(tmp_path: Path) -> None:
    for args in (
        ["--help"],
        ["models", "--help"],
        ["models", "register", "--help"],
        ["alias", "--help"],
        ["alias", "rollback", "--help"],
        ["package", "--help"],
        ["demo", "--help"],
    ):
        assert "Usage" in run(tmp_path, *args).stdout


def test_a_command_builds_only_itself_and_help_lists_all(tmp_path: Path) -> None:
    """`modelyard serve` races the server's imports: it must not import the other commands' modules."""
    probe = (
        "import json, sys; from modelyard.cli.app import build; "
        "tree = build('serve'); print(json.dumps([c.name for c in tree.registered_commands])); "
        "print(json.dumps([m for m in sys.modules if m.startswith('modelyard.cli.')]))"
    )
    commands, modules = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert json.loads(commands) == ["serve"]
    imported = set(json.loads(modules))
    assert "modelyard.cli.serve" in imported
    assert not {"modelyard.cli.bench", "modelyard.cli.profile", "modelyard.cli.models"} & imported
    from modelyard.cli.app import COMMANDS

    listed = run(tmp_path, "--help").stdout
    assert all(name in listed for name in COMMANDS)
    assert "--http-port" in run(tmp_path, "serve", "--help").stdout
    assert_one_line_error(run(tmp_path, "serverz", ok=False), 2, "no such command 'serverz'")


def test_a_table_written_to_a_file_keeps_its_figures() -> None:
    buffer = io.StringIO()
    table = Table(*[f"column {i}" for i in range(14)])
    table.add_row(*[f"{1234.5 + i:,.1f}" for i in range(14)])
    console(buffer).print(table)
    assert "1,247.5" in buffer.getvalue()  # at Rich's default 80 columns it reads "1,…"
