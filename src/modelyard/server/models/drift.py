"""Drift in the server: what each served version is sent and answers, tallied against its reference profile off the
request path. Each batch the batcher runs appends its inputs and outputs, whole, to a bounded queue (past
`MAX_PENDING` rows waiting, a batch's rows are skipped and counted, never waited for); one thread per process
wakes every `PERIOD_S`, joins what came, turns it into features and counts them into the version's window
(drift/compare.py). The window's tallies go into the worker's snapshot, add up across workers, and are judged
when `/metrics` or `/v2/models/{m}/drift` asks.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelyard.drift import features
from modelyard.drift.compare import Window
from modelyard.drift.features import ELEMENTS
from modelyard.server.models.limits import InputLimits

PERIOD_S = 0.5
MAX_PENDING = 200_000  # rows waiting for the drain; a batch past it is skipped and counted
OUTPUT = "output."  # the traffic log's prefix: a profile from traffic names outputs so


class DriftTally:
    """`drift`: tally the window; `limits`: count the input checks' violations (warn) in the same pass."""

    def __init__(self, profile: Mapping[str, Any], drift: bool = True, limits: InputLimits | None = None) -> None:
        self.profile = profile
        self.window = Window(profile) if drift else None
        self.limits = limits
        self.since = time.time()
        self.skipped = 0
        self._parts: dict[str, list[np.ndarray]] = {}  # tensor name -> the arrays that came since the last drain
        self._pending = 0  # rows waiting for the drain
        self._parts_lock = threading.Lock()
        self._lock = threading.Lock()
        _TALLIER.watch(self)

    def offer(self, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> None:
        """A batch's inputs and outputs, whole, from the batcher (on the event loop's thread or an instance's):
        each array appended to its name's list, nothing computed. Once a batch, not once a request: offered by
        each request, the tally cost W1 at c=64 8 % of its throughput, on the loop. Only arrays are kept, which
        the garbage collector does not track: keeping the requests' tensor objects for half a second promoted
        them out of the young generation by the thousand (a fifth more CPU a request at W1 c=64)."""
        first = next(iter(inputs.values()), None)
        rows = len(first) if first is not None and first.ndim else 1
        with self._parts_lock:  # instance threads offer beside each other and beside the drain's swap
            if self._pending >= MAX_PENDING:
                self.skipped += rows
                return
            self._pending += rows
            parts = self._parts
            for name, array in inputs.items():
                parts.setdefault(name, []).append(array)
            for name, array in outputs.items():
                parts.setdefault(OUTPUT + name, []).append(array)

    def drain(self) -> None:
        """On the tallier's thread: what came since the last drain, joined per tensor and counted, the
        interpreter's lock handed back between tensors (see `yield_lock`)."""
        with self._parts_lock:
            taken, self._parts, self._pending = self._parts, {}, 0
        joined: dict[str, np.ndarray] = {}
        for name, arrays in taken.items():
            try:
                joined[name] = np.concatenate(arrays)
            except ValueError:
                continue  # requests of different shapes past the rows: not one feature table
            yield_lock()
        if not joined:
            return
        with self._lock:
            if self.limits is not None:
                self.limits.count(joined)
            if self.window is not None:
                tally(self.window, joined)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            tallies = self.window.snapshot() if self.window is not None else {}
            return {"since": self.since, "skipped": self.skipped, "tallies": tallies}

    def violations(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return self.limits.snapshot() if self.limits is not None else {}


def yield_lock() -> None:
    """Let the event loop take the interpreter's lock now. A background thread that runs Python for milliseconds
    stalls the loop each time it re-enters from `epoll` (it waits up to the 5 ms switch interval for the lock).
    Sleeping 0.2 ms between steps hands the lock over for certain (a zero sleep only offers it)."""
    time.sleep(0.0002)


def tally(window: Window, joined: Mapping[str, np.ndarray]) -> None:
    """Tensors of a few numbers a row, whose elements are all numeric features of the profile, are binned at once
    (`Window.add_matrix`); the rest become features one by one."""
    specs = window.profile["features"]
    rest = {}
    for name, array in joined.items():
        if name not in specs and f"{name}[0]" not in specs and not any(k.startswith(name + ".") for k in specs):
            continue  # the reference has none of this tensor's features (a file's reference has no outputs)
        rows = array.reshape(len(array), -1) if array.ndim else None
        if rows is not None and rows.dtype.kind in "fiu" and rows.shape[1] <= ELEMENTS:
            names = [name] if rows.shape[1] == 1 else [f"{name}[{j}]" for j in range(rows.shape[1])]
            if all(specs.get(n, {}).get("kind") == "numeric" for n in names):
                window.add_matrix(names, rows)
                continue
        rest[name] = array
    if rest:
        window.add(features(rest))


class _Tallier:
    """The one thread per process that drains every tally, started with the first."""

    def __init__(self) -> None:
        self._tallies: weakref.WeakSet[DriftTally] = weakref.WeakSet()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def watch(self, tally: DriftTally) -> None:
        with self._lock:
            self._tallies.add(tally)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="modelyard-drift", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(PERIOD_S)
            for tally in list(self._tallies):
                tally.drain()


_TALLIER = _Tallier()


def judged(profile: Mapping[str, Any], snapshot: Mapping[str, Any], floor: float = 0.1) -> list[Any]:
    """The verdicts of a (merged) snapshot of a version's tallies."""
    return Window.restore(profile, snapshot.get("tallies", {})).judge(floor)
