"""`modelyard models ...`: register, list, search, show, download and delete versions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelyard.cli.render import err, models_table, out, print_json, version_detail, versions_table
from modelyard.cli.state import parse_metrics, parse_pairs, state
from modelyard.errors import InvalidArgument
from modelyard.manifest import CODE_EXECUTING_FORMATS, MANIFEST_FILE

if TYPE_CHECKING:
    from modelyard.registry import Registry
    from modelyard.registry.entities import ModelVersion, Page

app = typer.Typer(help="Register model versions and look them up.", no_args_is_help=True)

PICKLE_WARNING = "note: loading a pickle or a python model runs its code; register only models from sources you trust"
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class Source(StrEnum):
    auto = "auto"
    file = "file"
    package = "package"
    mlflow = "mlflow"
    triton = "triton"


def detect_source(path: Path) -> Source:
    if not path.exists():
        raise InvalidArgument(f"source: {path} does not exist")
    if not path.is_dir():
        return Source.file
    if (path / MANIFEST_FILE).is_file():
        return Source.package
    if (path / "MLmodel").is_file():
        return Source.mlflow
    if any(v.is_dir() and v.name.isdigit() for m in path.iterdir() if m.is_dir() for v in m.iterdir()):
        return Source.triton
    raise InvalidArgument(
        f"source: {path} is a folder but not a modelyard package, an MLflow model or a Triton repository"
    )


@app.command()
def register(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="Model file, package folder, MLflow model or Triton repository.")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Model name (default: from the source).")] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    author: Annotated[str | None, typer.Option(help="Default: the current user.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="KEY=NUMBER, repeatable.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Hyper-parameter KEY=VALUE, repeatable.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable.")] = None,
    lineage: Annotated[
        list[str] | None, typer.Option(help="Where it came from, KEY=VALUE: run_id, git_commit, dataset...")
    ] = None,
    example: Annotated[Path | None, typer.Option(help="Input example (.npy/.npz) for sklearn/torch/python.")] = None,
    python_class: Annotated[str | None, typer.Option("--class", help="module:Class of a python model.")] = None,
    from_: Annotated[Source, typer.Option("--from", help="What the source is.")] = Source.auto,
    reference: Annotated[
        list[str] | None, typer.Option(help="Data to profile as its reference for drift (Parquet, CSV, .npz).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a new version. Files are packaged on the way; the model is loaded and checked first."""
    registry = state(ctx).registry()
    info: dict[str, Any] = {
        "description": description,
        "author": author,
        "metrics": parse_metrics(metric),
        "params": parse_pairs(param, "--param"),
        "tags": parse_pairs(tag, "--tag"),
        "lineage": parse_pairs(lineage, "--lineage"),
    }
    kind = detect_source(source) if from_ is Source.auto else from_
    if reference:
        from modelyard.monitoring.run import reference_maker

        info["reference"] = reference_maker(reference)  # profiled before anything is stored
    versions = _register(registry, kind, source, name, example, python_class, info)
    if any(v.format in CODE_EXECUTING_FORMATS for v in versions):
        err.print(PICKLE_WARNING, style="yellow")
    if as_json:
        print_json(versions if len(versions) > 1 else versions[0])
        return
    for v in versions:
        out.print(f"registered [bold]{v.uri}[/] ({v.format}, sha256 {v.sha256[:12]})")


def _register(
    registry: Registry,
    kind: Source,
    source: Path,
    name: str | None,
    example: Path | None,
    python_class: str | None,
    info: dict[str, Any],
) -> list[ModelVersion]:
    if kind is Source.mlflow:
        return [registry.import_mlflow(source, name, **info)]
    if kind is Source.triton:
        return registry.import_triton(source, [name] if name else None, **info)
    return [registry.register(source, name=name, example=example, python_class=python_class, **info)]


def show_page(page: Page[Any], table: Callable[[list[Any]], Table], as_json: bool) -> None:
    if as_json:
        print_json({"items": page.items, "next_page_token": page.next_page_token})
        return
    out.print(table(page.items))
    if page.next_page_token:
        out.print(f"more: --page-token {page.next_page_token}")


@app.command("list")
def list_models(
    ctx: typer.Context,
    name_contains: Annotated[str | None, typer.Option(help="Only models whose name contains this.")] = None,
    page_size: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    page_token: Annotated[str | None, typer.Option(help="From the previous page's output.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registered models with their latest version and aliases."""
    show_page(state(ctx).registry().list_models(name_contains, page_size, page_token), models_table, as_json)


@app.command()
def search(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Exact model name.")] = None,
    name_contains: Annotated[str | None, typer.Option()] = None,
    author: Annotated[str | None, typer.Option()] = None,
    format: Annotated[str | None, typer.Option(help="onnx, sklearn, torchscript or python.")] = None,
    alias: Annotated[str | None, typer.Option(help="Only versions an alias points at.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable; all must match.")] = None,
    page_size: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    page_token: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search versions, newest first."""
    from modelyard.registry import VersionFilter

    filter = VersionFilter(
        name=name,
        name_contains=name_contains,
        author=author,
        format=format,
        alias=alias,
        tags=parse_pairs(tag, "--tag"),
    )
    show_page(state(ctx).registry().search(filter, page_size, page_token), versions_table, as_json)


@app.command()
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="models:/name/3, models:/name@alias or models:/name (latest).")],
    as_json: JsonOpt = False,
) -> None:
    """Show one version with its signature, metrics, lineage, aliases, its latest validation and reference."""
    registry = state(ctx).registry()
    version = registry.get(ref)
    validated = next((v for v in registry.validations(version.name, 200) if v.candidate_version == version.version),
                     None)  # fmt: skip
    reference = registry.reference(f"{version.name}/{version.version}")
    if as_json:
        summary = {"id": reference.id, "rows": reference.rows, "features": len(reference.profile["features"]),
                   "source": reference.source, "at": reference.at} if reference else None  # fmt: skip
        print_json({**asdict(version), "latest_validation": validated, "reference": summary})
    else:
        out.print(version_detail(version, validated, reference))


@app.command()
def update(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    description: Annotated[str | None, typer.Option("--description", "-d", help="The model's description.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE to set, repeatable.")] = None,
    untag: Annotated[list[str] | None, typer.Option(help="KEY to remove, repeatable.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the model's description and tags (what `models list` shows); its versions keep their own."""
    if description is None and not tag and not untag:
        raise InvalidArgument("models update: nothing to change; give --description, --tag KEY=VALUE or --untag KEY")
    model = state(ctx).registry().update_model(name, description, parse_pairs(tag, "--tag"), untag or ())
    if as_json:
        print_json(model)
    else:
        out.print(models_table([model]))


@app.command()
def download(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Version to download.")],
    dest: Annotated[Path, typer.Argument(help="New folder to write the package into.")],
) -> None:
    """Copy a version's package (artifact and modelyard.yaml) into a folder, checking its digest."""
    path = state(ctx).registry().download(ref, dest)
    out.print(f"downloaded {ref} to {path}")


@app.command()
def delete(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="models:/name/VERSION")],
    force: Annotated[bool, typer.Option(help="Also delete aliases that point at it (recorded).")] = False,
) -> None:
    """Delete a version. Refused while an alias points at it, unless --force."""
    deleted = state(ctx).registry().delete_version(ref, force=force)
    out.print(f"deleted {deleted.uri}")
