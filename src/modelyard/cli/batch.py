"""`modelyard batch REF INPUT... --output DIR`: score files with a model, exactly once, resumable; `modelyard jobs`:
the jobs the registry recorded (which version scored which inputs into where)."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from modelyard.cli.render import err, out, print_json
from modelyard.cli.state import parse_pairs, state

if TYPE_CHECKING:
    from modelyard.registry import BatchJob

ROWS_FAILED_EXIT = 10  # the job finished, and some rows are in DIR/errors/ (like `drift`: done, and found something)


class Bar:
    """Rows done of the job's rows, their rate and an ETA. Rich estimates the speed over the last 30 s of
    progress, so one slow part moves the ETA a little, not to a new guess per batch; the rows an earlier run did
    are the task's starting point, not progress, so a resumed job's rate is this run's."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
            console=err, transient=True, speed_estimate_period=30,
        )  # fmt: skip
        self.task: TaskID | None = None

    def begin(self, total: int | None, done: int) -> None:
        self.task = self.progress.add_task("rows", total=total, completed=done, rate="")
        self.progress.start()

    def advance(self, rows: int) -> None:
        if self.task is None:
            return
        self.progress.advance(self.task, rows)
        speed = self.progress.tasks[0].speed
        self.progress.update(self.task, rate=f"{speed:,.0f} rows/s" if speed else "")

    def stop(self) -> None:
        self.progress.stop()


def batch(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="What `serve` takes: churn@production, churn/3, a package or a model file.")
    ],
    inputs: Annotated[
        list[str], typer.Argument(help="Parquet, CSV, JSON lines, .npy or .npz files, folders of them, or globs.")
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="The folder of parts (local or any fsspec URL).")],
    keep: Annotated[str, typer.Option(help="Input columns copied beside the outputs, e.g. id,ts.")] = "",
    mapping: Annotated[
        list[str] | None, typer.Option("--map", metavar="COLUMN=INPUT", help="Feed a column to an input. Repeatable.")
    ] = None,
    format: Annotated[str, typer.Option(help="parquet, csv or jsonl.")] = "parquet",
    batch_size: Annotated[
        int | None, typer.Option(help="Rows per call (default: 1,024, or the package's max_batch_size if larger).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Start again: replace what the folder holds.")] = False,
    engine: Annotated[str, typer.Option(help="local, or ray (the ray extra): the same parts on Ray Data.")] = "local",
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Ray actors, each loading the model once (default: the cluster's CPUs over the card's threads)."
        ),
    ] = None,
    max_errors: Annotated[int | None, typer.Option(help="Stop once more rows than this failed.")] = None,
    name: Annotated[str | None, typer.Option(help="The name to load a model file or package under.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Score files with a model into a folder of parts. Killed, the same command finishes the job; rows the model
    rejects go to DIR/errors/ with their reason. Exit 0: every row scored; 10: some rows are in errors/."""
    from modelyard.batch import run

    s = state(ctx)
    bar = Bar()
    try:
        summary = run(ref, inputs, output, keep=[c.strip() for c in keep.split(",") if c.strip()],
                      mapping=parse_pairs(mapping, "--map"), format=format, batch_size=batch_size,
                      overwrite=overwrite, engine=engine, concurrency=concurrency, max_errors=max_errors,
                      name=name, settings=s.settings, registry=s.registry(), progress=bar)  # fmt: skip
    finally:
        bar.stop()
    if as_json:
        print_json(summary.to_dict())
    elif summary.status == "already done":
        out.print(f"{output}: this job is done already ({summary.rows:,} rows, {summary.errors:,} in errors/); "
                  "--overwrite runs it again", markup=False)  # fmt: skip
    else:
        resumed = f", {summary.resumed} of {summary.parts} parts done before" if summary.resumed else ""
        out.print(f"{summary.model} version {summary.version}: {summary.rows:,} rows, {summary.scored:,} scored, "
                  f"{summary.errors:,} in errors/ in {summary.seconds:.1f} s ({summary.rows_per_s:,.0f} rows/s"
                  f"{resumed}) → {output}", markup=False)  # fmt: skip
        if summary.first_error:
            out.print(f"first error: {summary.first_error}", markup=False)
    if summary.errors:
        raise typer.Exit(ROWS_FAILED_EXIT)


def jobs(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="A model's jobs (default: every model's).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Batch jobs, newest first: which version scored which inputs into where, and how it went."""
    found = state(ctx).registry().jobs(name, limit)
    if as_json:
        print_json([{**_plain(j), "status": status(j)} for j in found])
        return
    table = Table("job", "model", "status", "rows", "errors", "inputs", "output", "started", title="batch jobs",
                  title_justify="left")  # fmt: skip
    for j in found:
        table.add_row(j.id[:12], f"{j.name}/{j.version}", status(j), f"{j.rows:,}", f"{j.errors:,}",
                      _inputs(j), j.output, j.started.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    out.print(table)


def status(job: BatchJob) -> str:
    """`interrupted`: recorded as running by a process of this machine that is gone (killed; run it again)."""
    if job.status != "running" or job.detail.get("host") != socket.gethostname():
        return job.status
    pid = int(job.detail.get("pid", 0))
    if pid <= 0:
        return job.status
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:
        pass
    return job.status


def _inputs(job: BatchJob) -> str:
    paths = [str(i["path"]) for i in job.inputs]
    return paths[0] if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1} more"


def _plain(job: BatchJob) -> dict[str, object]:
    return {"id": job.id, "name": job.name, "version": job.version, "ref": job.ref, "inputs": list(job.inputs),
            "output": job.output, "rows": job.rows, "scored": job.scored, "errors": job.errors,
            "engine": job.engine, "detail": dict(job.detail), "actor": job.actor, "started": job.started.isoformat(),
            "finished": job.finished.isoformat() if job.finished else None}  # fmt: skip
