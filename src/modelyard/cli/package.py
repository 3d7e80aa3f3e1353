"""`modelyard package`: turn a model file into a model package folder without registering it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.models import PICKLE_WARNING
from modelyard.cli.render import err, out
from modelyard.manifest import CODE_EXECUTING_FORMATS, Format
from modelyard.packaging import build_package


def package(
    source: Annotated[Path, typer.Argument(help="Model file (.onnx, .pkl/.joblib, .pt) or Python source.")],
    out_dir: Annotated[Path, typer.Argument(metavar="OUT", help="New folder for the package.")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Default: the file's stem.")] = None,
    example: Annotated[Path | None, typer.Option(help="Input example (.npy, or .npz of named inputs).")] = None,
    python_class: Annotated[str | None, typer.Option("--class", help="module:Class of a python model.")] = None,
    format: Annotated[str | None, typer.Option(help="onnx, sklearn, torchscript or python.")] = None,
    max_batch_size: Annotated[int | None, typer.Option(min=0, help="0 turns batching off.")] = None,
    instances: Annotated[int | None, typer.Option(min=1, help="Instances to run at once.")] = None,
) -> None:
    """Write a model package: the artifact plus a modelyard.yaml whose signature is read from the model."""
    options: dict[str, Any] = {}
    if max_batch_size is not None:
        options["max_batch_size"] = max_batch_size
    if instances is not None:
        options["instances"] = {"count": instances}
    fmt: Format | None = format  # type: ignore[assignment]  # checked by the manifest
    manifest = build_package(
        source, out_dir, name=name, format=fmt, example=example, python_class=python_class, options=options
    )
    if manifest.format in CODE_EXECUTING_FORMATS:
        err.print(PICKLE_WARNING, style="yellow")
    out.print(f"packaged {manifest.name} ({manifest.format}) in {out_dir}")
    for side, specs in (("in", manifest.signature.inputs), ("out", manifest.signature.outputs)):
        for spec in specs:
            out.print(f"  {side:>3} {spec.name}: {spec.datatype}{list(spec.shape)}")
