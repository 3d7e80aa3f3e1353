"""The server's registry follower process: `python -m modelyard.server.repository.follower SPEC PARENT_PID`.

It is the one process of a server that talks to the registry, so the HTTP workers stay lean and the registry sees
one client per server. Every `follow_interval_s` it evaluates the follow rules and, when the registry moved (an
alias to another version, a new version under `latest:N`), rewrites the spec file; the workers see the change and
load, warm up, switch and drain (`ModelManager.sync`). Every `heartbeat_s` it records the server's endpoints, the
models its workers report as loaded, and readiness in the registry; on exit it withdraws the entry.

What the workers have loaded, and whether they are ready, it reads from the snapshots they share with each other
(metrics/snapshots.py), not over the server's own port: that needs no HTTP client, no log line per call, and
nothing to configure when the port speaks TLS and asks for client certificates.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from modelyard.registry import ArtifactStore, Registry, ServedVersion, ServerRecord
from modelyard.registry.sql import SqlAlchemyStore
from modelyard.server.metrics.snapshots import PROCESS, SnapshotFiles, model_entries
from modelyard.server.process.common import signal_on_parent_death, telemetry_dir
from modelyard.server.repository.sources import SourceResolver
from modelyard.server.repository.spec import ServeSpec, SourceSpec, SpecFile

log = logging.getLogger("modelyard.follower")


def followed_update(spec: ServeSpec, chosen: list[SourceSpec]) -> ServeSpec | None:
    """The spec with its followed models replaced by `chosen`, or None when nothing changed."""
    for source in chosen:
        source.overrides = dict(spec.overrides)
    current = {(s.key, s.aliases) for s in spec.models if s.followed}
    if current == {(s.key, s.aliases) for s in chosen}:
        return None
    return spec.model_copy(update={"models": [s for s in spec.models if not s.followed] + chosen})


def endpoint(host: str) -> str:
    """An address other machines can use: the bind address, or this machine's name when bound to all."""
    return socket.getfqdn() if host in ("0.0.0.0", "::", "") else host


class Schedule:
    """Periodic steps, each due again an interval after it ran. Pure, the clock passed in: only the steps added
    are waited for, so a server that announces without following sleeps between heartbeats instead of waking for
    a follow deadline that never comes (it spun at a third of a core)."""

    def __init__(self, now: float, most_s: float = 5.0) -> None:
        self.now = now
        self.most_s = most_s  # the longest sleep: where no signal tells, the parent's death is noticed within it
        self.next: dict[str, float] = {}

    def add(self, step: str) -> None:
        self.next[step] = self.now  # due at once

    def due(self, now: float) -> list[str]:
        self.now = now
        return [step for step, at in self.next.items() if at <= now]

    def ran(self, step: str, now: float, interval_s: float) -> None:
        self.now = now
        self.next[step] = now + interval_s

    def wait_s(self, now: float) -> float:
        """How long to sleep: until the next step is due, at most `most_s`; 0 only when one is due now."""
        soonest = min(self.next.values(), default=now + self.most_s)
        return min(self.most_s, max(0.0, soonest - now))


class Follower:
    def __init__(self, spec_file: SpecFile, registry: Registry, cache_dir: Path, parent_pid: int) -> None:
        self.spec_file = spec_file
        self.registry = registry
        self.parent_pid = parent_pid
        self.spec = spec_file.read()
        self.resolver = SourceResolver(cache_dir, registry)
        self.started = datetime.now(UTC)
        self.workers = SnapshotFiles(telemetry_dir(spec_file.path))
        self.stopped = threading.Event()
        self.ready = False

    def follow(self) -> None:
        versions = self.resolver.choose(self.spec.follow)
        wanted = {((v.name, str(v.version)), tuple(v.aliases)) for v in versions}
        if wanted == {(s.key, s.aliases) for s in self.spec.models if s.followed}:
            return  # nothing moved: no package to check against its digest, no spec to lock and reread
        chosen = [self.resolver.spec_for(v) for v in versions]

        def change(spec: ServeSpec) -> ServeSpec:
            return followed_update(spec, [c.model_copy(deep=True) for c in chosen]) or spec

        before = {s.key for s in self.spec.models}
        self.spec, _ = self.spec_file.update(change)
        after = {s.key for s in self.spec.models}
        if before != after:
            log.info("registry moved: serving %s", ", ".join(f"{n}/{v}" for n, v in sorted(after)))

    def heartbeat(self) -> None:
        loaded, ready = self._observe()
        self.ready = ready
        aliases = {s.key: s.aliases for s in self.spec.models}
        host = endpoint(self.spec.host)
        self.registry.announce(
            ServerRecord(
                id=self.spec.server_id,
                http_url=f"{self.spec.http_scheme}://{host}:{self.spec.http_port}",
                grpc_url=f"{host}:{self.spec.grpc_port}" if self.spec.grpc_port else "",
                host=socket.gethostname(),
                pid=self.parent_pid,
                models=tuple(ServedVersion(n, v, aliases.get((n, v), ())) for n, v in loaded),
                ready=ready,
                started_at=self.started,
                heartbeat_at=datetime.now(UTC),
            )
        )

    def _observe(self) -> tuple[list[tuple[str, str]], bool]:
        """What the live workers have loaded, and whether one of them is ready to answer."""
        loaded: set[tuple[str, str]] = set()
        ready = False
        for snapshot in self.workers.others():
            ready = ready or bool(snapshot.get(PROCESS, {}).get("ready_workers"))
            loaded.update((m["name"], m["version"]) for m in model_entries(snapshot))
        return sorted(loaded), ready

    def run(self) -> None:
        schedule = Schedule(time.monotonic())
        steps = {"follow": self.follow, "heartbeat": self.heartbeat}
        if self.spec.follow:
            schedule.add("follow")
        if self.spec.announce:
            schedule.add("heartbeat")
        while not self.stopped.is_set() and os.getppid() == self.parent_pid:
            for name in schedule.due(time.monotonic()):
                self._guarded(steps[name])
                schedule.ran(name, time.monotonic(), self._interval(name))
            self.stopped.wait(schedule.wait_s(time.monotonic()))  # a stop wakes it at once

    def _interval(self, step: str) -> float:
        if step == "follow":
            return self.spec.follow_interval_s
        # Until the workers are ready, look again soon: clients should find the server once it can serve.
        return self.spec.heartbeat_s if self.ready else min(0.5, self.spec.heartbeat_s)

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # the registry may be briefly unavailable; the server keeps serving
            log.warning("%s failed: %s", getattr(step, "__name__", step), exc)

    def stop(self, *_: object) -> None:
        self.stopped.set()

    def close(self) -> None:
        if self.spec.announce:
            self._guarded(lambda: self.registry.withdraw(self.spec.server_id))
        self.registry.close()


def main(spec_path: str, parent_pid: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # two lines of its own each start, for nobody
    spec_file = SpecFile(Path(spec_path))
    link = spec_file.read().registry
    if link is None:
        return
    registry = Registry(SqlAlchemyStore(link.database_url, link.busy_timeout_s), ArtifactStore(link.artifact_url))
    follower = Follower(spec_file, registry, Path(link.cache_dir), parent_pid)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        follower.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal_on_parent_death()  # stopped at once, not at its next look at its parent (at most `most_s` later)
    # Started by the supervisor, this process inherits its mask, which blocks the stop signals (a mask survives
    # fork and exec): unblocked here, or a stop waits until it is killed and the server's entry is never withdrawn.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        follower.run()
    finally:
        follower.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
