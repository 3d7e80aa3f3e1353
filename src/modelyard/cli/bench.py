"""`modelyard bench MODEL`: closed- and open-loop load on a served model, measured until stable."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, TaskID

from modelyard.cli.render import out
from modelyard.cli.state import parse_list
from modelyard.errors import Unavailable

if TYPE_CHECKING:
    from modelyard.bench.runner import Mode
    from modelyard.testing import Server


@contextlib.contextmanager
def served(model: str, url: str | None, serve_args: list[str]) -> Iterator[tuple[str, str]]:
    """(server URL, model name): the given server, or a `modelyard serve MODEL` started here and stopped after."""
    if url:
        yield url.rstrip("/"), model
        return
    from modelyard.testing import stop_server

    out.print(f"starting a server for {model} ...")
    server = start_for(model, serve_args)
    try:
        name = next(iter(_index(server.url)), model)
        yield server.url, name
    finally:
        stop_server(server)


def start_for(model: str, serve_args: list[str], env: dict[str, str] | None = None) -> Server:
    """`modelyard serve MODEL` on a free local port; its own error (bad reference, bad model) becomes ours."""
    from modelyard.testing import start_server

    try:
        return start_server([model, "--grpc-port", "0", *serve_args], timeout_s=120, env=env)
    except RuntimeError as exc:
        lines = [line for line in str(exc).splitlines() if line.startswith("error:")]
        reason = lines[-1].removeprefix("error: ") if lines else str(exc).splitlines()[0]
        raise Unavailable(f"could not serve {model}: {reason}") from None


def _index(url: str) -> list[str]:
    import httpx

    entries = httpx.post(f"{url}/v2/repository/index", timeout=10, trust_env=False).json()
    return [e["name"] for e in entries if e.get("state") == "READY"]


def bench(
    model: Annotated[str, typer.Argument(help="A model: its name on --url, or anything `modelyard serve` takes.")],
    url: Annotated[str | None, typer.Option(help="A running server (default: start one for MODEL).")] = None,
    concurrency: Annotated[str, typer.Option(help="Closed-loop connections, e.g. 1,8,32,64.")] = "1,8,32,64",
    rate: Annotated[
        str | None, typer.Option(help="Open-loop request rates per second (Poisson), e.g. 100,500.")
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Rows per request.")] = 1,
    json_tensors: Annotated[bool, typer.Option("--json-tensors", help="JSON tensors instead of binary.")] = False,
    warmup_s: Annotated[float, typer.Option(min=0, help="Load sent before each level is measured.")] = 1.0,
    window_s: Annotated[float, typer.Option(min=0.1, help="Measurement window.")] = 1.0,
    max_windows: Annotated[int, typer.Option(min=3, help="Stop a level after this many windows if unstable.")] = 10,
    output: Annotated[Path | None, typer.Option(help="Write the results as JSON (and CSV next to it).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server workers when starting one.")] = 1,
) -> None:
    """Load a model at each concurrency (closed loop) and rate (open loop); report latency percentiles, throughput,
    errors, the server's queue vs compute time, CPU and memory, and the generator's own cost."""
    from modelyard.bench.report import as_json, level_row, table, write_csv, write_json
    from modelyard.bench.runner import example_inputs, measure, target_for
    from modelyard.bench.stats import Windows

    loads: list[tuple[Mode, float]] = [("closed", c) for c in parse_list(concurrency, "--concurrency", int, 1)]
    loads += [("open", r) for r in parse_list(rate, "--rate", float, 0.001)] if rate else []
    windows = Windows(warmup_s, window_s, 3, max_windows)
    levels = []
    with served(model, url, ["--workers", str(workers)]) as (server_url, name):
        target = target_for(server_url, name, example_inputs(server_url, name, rows), binary=not json_tensors)
        with Progress(console=out, transient=True) as progress:
            for mode, load in loads:
                label = f"{name}: {'c=' if mode == 'closed' else ''}{load:g}{'/s' if mode == 'open' else ''}"
                task = progress.add_task(label, total=max_windows)

                def advance(done: int, task: TaskID = task) -> None:
                    progress.update(task, completed=done)

                levels.append(measure(target, server_url, name, mode, load, windows, advance))
                progress.update(task, completed=max_windows)  # settled early: done, not frozen at 3 of 6
    out.print(table(levels, f"{name} on {server_url}"))
    if output:
        write_json([as_json(level) for level in levels], output)
        write_csv([level_row(level) for level in levels], output.with_suffix(".csv"))
        out.print(f"wrote {output} and {output.with_suffix('.csv')}")
