"""`modelyard traffic ...`: what the traffic log holds, and a window of it as one Parquet file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.render import out, print_json
from modelyard.cli.state import state
from modelyard.errors import NotFound
from modelyard.uri import parse_ref

app = typer.Typer(
    help="The traffic log that `serve --log-sample` records: list it, export a window of it.", no_args_is_help=True
)


@app.command("list")
def list_traffic(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Per version and day: the files, their size, and where they are."""
    from modelyard.traffic import list_files

    url = state(ctx).settings.traffic_url
    files = list_files(url, name)
    if not files:
        raise NotFound(f"no recorded traffic for {name} under {url} (serve it with --log-sample RATE)")
    groups: dict[tuple[str, str], list[int]] = {}
    for f in files:
        groups.setdefault((f.version, f.date), []).append(f.size)
    if as_json:
        rows = [{"version": v, "date": d, "files": len(s), "bytes": sum(s)} for (v, d), s in sorted(groups.items())]
        print_json({"url": url, "partitions": rows})
        return
    table = Table("version", "date", "files", "MiB", title=f"{name}: traffic under {url}", title_justify="left")
    for (version, date), sizes in sorted(groups.items()):
        table.add_row(version, date, str(len(sizes)), f"{sum(sizes) / (1 << 20):.2f}")
    out.print(table)


@app.command()
def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="fraud (every version), fraud/3, or fraud@production (its callers).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The Parquet file to write.")],
    since: Annotated[str | None, typer.Option(help="How far back: 90s, 30m, 2h, 7d (default: everything).")] = None,
) -> None:
    """A window of the log as one Parquet file: a row per request, a column per input and output."""
    import pyarrow.parquet as pq

    from modelyard.traffic import read_window
    from modelyard.traffic.reader import parse_since

    parsed = parse_ref(ref)
    version = str(parsed.version) if parsed.version is not None else None
    started = parse_since(since) if since else None
    window = read_window(state(ctx).settings.traffic_url, parsed.name, version, parsed.alias, started)
    output.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(window.table, output)
    out.print(f"{window.rows} requests of {ref} written to {output}", markup=False)
