"""Drift in the server: what each served version is sent and answers, tallied against its reference profile off the
request path. A request only appends references to its tensors to a bounded queue (past `MAX_PENDING` requests
waiting, one is skipped and counted, never waited for); one thread per process wakes every `PERIOD_S`, joins what
came, turns it into features and counts them into the version's window (drift/compare.py). The window's tallies go
into the worker's snapshot, add up across workers, and are judged when `/metrics` or `/v2/models/{m}/drift` asks.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelyard.drift import features
from modelyard.drift.compare import Window

PERIOD_S = 0.5
MAX_PENDING = 20_000
OUTPUT = "output."  # the traffic log's prefix: a profile from traffic names outputs so


class DriftTally:
    def __init__(self, profile: Mapping[str, Any]) -> None:
        self.profile = profile
        self.window = Window(profile)
        self.since = time.time()
        self.skipped = 0
        self._pending: deque[tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]] = deque()
        self._lock = threading.Lock()
        _TALLIER.watch(self)

    def offer(self, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> None:
        """On the request path: a reference to the tensors, nothing computed."""
        if len(self._pending) >= MAX_PENDING:
            self.skipped += 1
            return
        self._pending.append((inputs, outputs))

    def drain(self) -> None:
        """On the tallier's thread: what came since the last drain, counted."""
        taken = []
        while self._pending:
            taken.append(self._pending.popleft())
        if not taken:
            return
        joined: dict[str, np.ndarray] = {}
        for prefix, side in (("", 0), (OUTPUT, 1)):
            names = {n for item in taken for n in item[side]}
            for name in names:
                parts = [item[side][name] for item in taken if name in item[side]]
                if len({p.shape[1:] for p in parts}) == 1:
                    joined[prefix + name] = np.concatenate(parts)
        rows = {len(a) for a in joined.values()}
        chunk = features(joined) if len(rows) == 1 else {}
        if not chunk:  # outputs missing for some (they are selected per request): inputs alone
            chunk = features({n: a for n, a in joined.items() if not n.startswith(OUTPUT)})
        with self._lock:
            self.window.add(chunk)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"since": self.since, "skipped": self.skipped, "tallies": self.window.snapshot()}


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
