"""`modelyard infer REF --input x=rows.npy`: call a model once, in this process or on a server, and show what it
answered (MLflow's `mlflow models predict`, over the same data plane as the server)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import httpx
import numpy as np
import orjson
import typer
from rich.table import Table

from modelyard.cli.render import out, print_json
from modelyard.cli.state import CliState, state
from modelyard.datafiles import read_inputs, write_outputs
from modelyard.errors import InvalidArgument, ServerUnreachable, from_http
from modelyard.protocol.calls import error_message, model_path

INPUT_HELP = "An input from .npy/.json/.csv/.parquet; or FILE (.npz, .json, a table) with inputs by name. Repeatable."
SHOWN_ROWS = 20
SHOWN_COLUMNS = 12


def infer(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="What `serve` takes: fraud@production, churn/3, a package folder or a model file.")
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", metavar="NAME=FILE", help=INPUT_HELP),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Call this server (http://host:8000) instead of this process.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The name to load a model file or package under.")] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the outputs: .npz .npy .json .csv .parquet."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outputs as JSON.")] = False,
) -> None:
    """Run a model on data from files and print its outputs (or write them with --output)."""
    s = state(ctx)
    if url is None:
        model, version, outputs = _in_process(s, ref, name, inputs or [])
    else:
        model, version, outputs = _remote(url, ref, inputs or [])
    if output is not None:
        write_outputs(outputs, output)
        out.print(f"{model} version {version}: {', '.join(outputs)} written to {output}", markup=False)
    elif as_json:
        print_json(
            {"model_name": model, "model_version": version, "outputs": {n: a.tolist() for n, a in outputs.items()}}
        )
    else:
        out.print(f"{model} version {version}", markup=False)
        for output_name, array in outputs.items():
            out.print(output_table(output_name, array))


def _in_process(s: CliState, ref: str, name: str | None, inputs: list[str]) -> tuple[str, str, dict[str, np.ndarray]]:
    from modelyard.manifest import read_manifest
    from modelyard.server.local import LocalPlane
    from modelyard.server.repository.sources import SourceResolver

    registry = None if Path(ref).exists() else s.registry()
    specs, _ = SourceResolver(s.settings.home_dir / "cache", registry).resolve([ref], name=name)
    if len(specs) != 1:
        raise InvalidArgument(f"{ref}: names {len(specs)} models; infer calls one (name a version or a file)")
    signature = read_manifest(Path(specs[0].package_dir)).signature
    arrays = read_inputs(inputs, {i.name: i.datatype for i in signature.inputs})

    async def call() -> tuple[str, str, dict[str, np.ndarray]]:
        async with LocalPlane(specs) as plane:
            response = await plane.infer(specs[0].name, arrays, specs[0].version)
        return response.model_name, response.model_version, {o.name: o.data for o in response.outputs}

    return asyncio.run(call())


def _remote(url: str, ref: str, inputs: list[str]) -> tuple[str, str, dict[str, np.ndarray]]:
    from modelyard.client import Client

    base = url.rstrip("/")
    try:
        reply = httpx.get(f"{base}{model_path(ref).removesuffix('/infer')}", timeout=10, trust_env=False)
    except httpx.HTTPError as exc:
        raise ServerUnreachable(f"{base}: {type(exc).__name__}: {exc}") from None
    if reply.status_code != 200:
        raise from_http(reply.status_code, error_message(reply.content))
    metadata = orjson.loads(reply.content)
    arrays = read_inputs(inputs, {i["name"]: i["datatype"] for i in metadata["inputs"]})
    with Client(base) as client:
        result = client.infer_result(ref, arrays)
    return result.model_name, result.model_version, dict(result.outputs)


def output_table(name: str, array: np.ndarray) -> Table | str:
    """Rows of a 2-D output (its first rows and columns); other shapes as numpy prints them."""
    if array.ndim not in (1, 2):
        return f"{name} {list(array.shape)}:\n{np.array2string(array, threshold=200)}"
    rows = array.reshape(len(array), -1)
    columns = min(rows.shape[1], SHOWN_COLUMNS)
    headers = [name] if rows.shape[1] == 1 else [f"{name}[{i}]" for i in range(columns)]
    table = Table("row", *headers, title=f"{name} {list(array.shape)}", title_justify="left")
    for i, row in enumerate(rows[:SHOWN_ROWS]):
        table.add_row(str(i), *(_cell(v) for v in row[:columns]))
    hidden_rows, hidden_columns = len(rows) - SHOWN_ROWS, rows.shape[1] - columns
    if hidden_rows > 0 or hidden_columns > 0:
        table.caption = f"{max(hidden_rows, 0)} more rows, {max(hidden_columns, 0)} more columns (--output FILE)"
    return table


def _cell(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)
