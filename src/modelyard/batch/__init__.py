"""Batch inference: files in, predictions out, exactly once, in bounded memory, through the same data plane (the
model's instances, threads and batching) that serves it online.

    from modelyard import batch
    summary = batch.run("churn@production", ["day.parquet"], "scores/", keep=["id"])
    table = batch.results("scores/")  # the predictions, in input order

Rooms: `inputs.py` (files, digests, parts), `plan.py` (the job, decided and checked before any work),
`scoring.py` (a part through the model, split around bad rows), `output.py` (the folder: parts renamed into place,
then marked done), `job.py` (the run, and its record in the registry), `ray_engine.py` (the same parts on Ray Data's
actors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.batch.job import Summary, run
from modelyard.batch.plan import plan

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Summary", "errors", "plan", "results", "run"]


def results(output: str) -> pa.Table:
    """A finished job's predictions, every part in input order (the parts its `_done` markers name)."""
    return _read(output, errors=False)


def errors(output: str) -> pa.Table:
    """The rows the model rejected, with their reasons (`input`, `row`, `error`)."""
    return _read(output, errors=True)


def _read(output: str, errors: bool) -> pa.Table:
    import pyarrow as pa

    from modelyard.batch.output import ERRORS, OutputFolder, part_name, read_part

    folder = OutputFolder(output)
    job = folder.job()
    if job is None or job.get("job") is None:
        from modelyard.errors import NotFound

        raise NotFound(f"{output}: holds no batch job's output")
    tables = []
    for index in sorted(folder.done()):
        name = f"{ERRORS}/{part_name(index, 'parquet')}" if errors else part_name(index, job["format"])
        if folder.fs.exists(folder.path(name)):
            tables.append(read_part(folder, name))
    return pa.concat_tables(tables) if tables else pa.table({})
