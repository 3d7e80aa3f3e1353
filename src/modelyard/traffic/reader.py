"""Reading the traffic log back: the files of a model (or one version), a time window of them as one Arrow table,
and that window's tensors as numpy arrays, by input and output name."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelyard.errors import InvalidArgument, NotFound
from modelyard.traffic.records import INPUT, OUTPUT, SHAPE, row_tensors, tensor

PARTITION = re.compile(r"model=(?P<model>[^/]+)/version=(?P<version>[^/]+)/date=(?P<date>[\d-]+)/(?P<file>[^/]+)$")
SINCE = re.compile(r"^(?P<n>\d+(\.\d+)?)(?P<unit>s|m|h|d)$")


@dataclass(frozen=True)
class LogFile:
    path: str
    model: str
    version: str
    date: str
    size: int


@dataclass(frozen=True)
class Window:
    """A window of a model's recorded traffic: its rows, oldest first."""

    table: pa.Table

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    def inputs(self) -> dict[str, np.ndarray]:
        return arrays(self.table, INPUT)

    def outputs(self) -> dict[str, np.ndarray]:
        return arrays(self.table, OUTPUT)

    def requests(self) -> list[dict[str, np.ndarray]]:
        """Each recorded request's inputs, as it sent them: what a replay sends again."""
        names = [c[len(INPUT) :] for c in self.table.column_names if c.startswith(INPUT) and not c.endswith(SHAPE)]
        columns = {name: row_tensors(self.table, INPUT + name) for name in names}
        requests: list[dict[str, np.ndarray]] = [{} for _ in range(self.rows)]
        for name, rows in columns.items():
            for request, row in zip(requests, rows, strict=True):
                if row is not None:
                    request[name] = row
        return requests


def list_files(url: str, model: str, version: str | None = None) -> list[LogFile]:
    """The model's finished files (hidden temporary ones are still being written)."""
    fs, root = fsspec.core.url_to_fs(url)
    pattern = f"{root}/model={model}/version={version or '*'}/date=*/*.parquet"
    found = []
    for path, info in sorted(fs.glob(pattern, detail=True).items()):
        match = PARTITION.search(path)
        if match and not match["file"].startswith("."):
            found.append(LogFile(path, match["model"], match["version"], match["date"], int(info.get("size", 0))))
    return found


def count_rows(url: str, model: str, version: str | None = None) -> int:
    """How many requests the finished files hold, from their footers: nothing but the metadata is read (the gate
    asks at every look whether more traffic has come)."""
    fs, _ = fsspec.core.url_to_fs(url)
    total = 0
    for f in list_files(url, model, version):
        with fs.open(f.path, "rb") as handle:
            total += pq.read_metadata(handle).num_rows
    return total


def read_window(
    url: str,
    model: str,
    version: str | None = None,
    alias: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> Window:
    """Rows of `model` (one `version`, or those called through `alias`) recorded from `since` to `until` (Unix
    seconds), oldest first."""
    fs, _ = fsspec.core.url_to_fs(url)
    first_day = time.strftime("%Y-%m-%d", time.gmtime(since)) if since is not None else ""
    tables = []
    for f in list_files(url, model, version):
        if f.date < first_day:
            continue  # a whole day before the window: not opened
        with fs.open(f.path, "rb") as handle:
            # Read on this thread, nothing read ahead: Arrow's threads left work on a Python file after
            # `read_table` returned, and `traffic export` aborted at exit ("terminate called without an active
            # exception", once in CI; apache/arrow#33975), as batch/output.py and datafiles.py already avoid.
            tables.append(pq.read_table(handle, use_threads=False, pre_buffer=False))
    if not tables:
        raise NotFound(f"no recorded traffic for {model}{'/' + version if version else ''} under {url}")
    table = pa.concat_tables(tables, promote_options="default")
    keep = pc.equal(table["alias"], alias) if alias else None
    for bound, op in ((since, pc.greater_equal), (until, pc.less)):
        if bound is not None:
            stamp = pa.scalar(datetime.fromtimestamp(bound, UTC), pa.timestamp("ns", tz="UTC"))
            test = op(table["time"], stamp)
            keep = test if keep is None else pc.and_(keep, test)
    if keep is not None:
        table = table.filter(keep)
    return Window(table.sort_by("time"))


def arrays(table: pa.Table, prefix: str) -> dict[str, np.ndarray]:
    """Each tensor column under `prefix` (`input.`, `output.`), its rows joined along the batch axis."""
    names = [c[len(prefix) :] for c in table.column_names if c.startswith(prefix) and not c.endswith(SHAPE)]
    return {name: tensor(table, prefix + name) for name in names}


def parse_since(text: str, now: float | None = None) -> float:
    """`2h`, `30m`, `7d`, `90s` ago, as Unix seconds."""
    match = SINCE.match(text.strip())
    if not match:
        raise InvalidArgument(f"--since {text!r}: expected an age such as 90s, 30m, 2h or 7d")
    seconds = float(match["n"]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match["unit"]]
    return (time.time() if now is None else now) - seconds
