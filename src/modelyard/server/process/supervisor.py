"""The supervisor of forked workers (prefork.py): `python -m <this module> SPEC HOST PORT DRAIN_S PIDS`.

It is what the serving process `execve`s into once its workers run, so it imports nothing of the server's stack
(about 13 MiB RSS). It waits for signals, looking at its workers' heartbeats a few times per timeout (at most once a
second, at least every 5 s; a worker's exit wakes it at once): a stop signal (SIGTERM, SIGINT)
goes to every worker, which drains; a worker that dies otherwise is replaced; one whose event loop has not written
its heartbeat (its telemetry file, every second) for `worker_timeout_s` is killed and replaced; one that could not
start (exit status 3: its app failed its startup) stops the server with that status, since its replacement would
fail the same way. Under `serve --workers MIN..MAX` it also adds a worker, or drains one and lets it go, as the
scaling policy asks (scaler.py); a worker let go is not replaced.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from modelyard.server.process.common import module_argv, spec_fields, start_follower, stop_follower, telemetry_dir
from modelyard.server.process.scaler import WorkerScaler

STOPPING = (signal.SIGINT, signal.SIGTERM)
STARTUP_FAILED = 3  # uvicorn's status for an app whose startup failed: stop rather than restart it forever
WAITED = {*STOPPING, signal.SIGCHLD}
QUICK_DEATH_S = 5.0  # a worker that dies sooner than this is replaced after a pause, not at once
PREFORK = f"{__package__}.prefork"  # a replacement worker's module: imported here it would load the stack
GRACE_S = 5.0  # beyond the drain timeout, before stragglers are killed


def supervisor_argv(spec_file: str, host: str, port: int, drain_s: int, pids: list[int]) -> list[str]:
    argv = [spec_file, host, str(port), str(drain_s), ",".join(map(str, pids))]
    return module_argv(__name__, *argv)  # called from prefork, never as __main__


@dataclass
class Supervisor:
    spec_file: str
    host: str  # where a replacement binds its own socket (listeners.py)
    port: int
    drain_s: int
    workers: dict[int, float] = field(default_factory=dict)  # pid -> when it started
    timeout_s: float = 30.0  # a worker's heartbeat older than this: its event loop is stuck
    stop_signal: int | None = None
    status: int = 0
    scaler: WorkerScaler | None = None  # serve --workers MIN..MAX
    retiring: set[int] = field(default_factory=set)  # let go by the scaler: draining, not to be replaced

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)  # already, when prefork.serve execs into this
        deadline = float("inf")
        while self.workers:
            info = signal.sigtimedwait(WAITED, max(0.0, min(deadline - time.monotonic(), self.look_s)))
            if info is not None and info.si_signo != signal.SIGCHLD and self.stop_signal is None:
                self.stop(info.si_signo)
                deadline = time.monotonic() + self.drain_s + GRACE_S
            self.reap()
            if self.stop_signal is None:
                self.kill_hung()
                self.autoscale(time.monotonic())
            if time.monotonic() > deadline:
                self.signal_all(signal.SIGKILL)
        return self.status

    @property
    def look_s(self) -> float:
        """How long it sleeps when no signal comes: a hung worker is found within a quarter of the timeout."""
        if self.stop_signal is not None or self.scaler is not None:
            return 1.0  # the workers' snapshots come each second: the scaler looks as often
        return min(5.0, max(1.0, self.timeout_s / 4))

    def autoscale(self, now: float) -> None:
        """Start workers, or let the newest go (SIGTERM: each drains its requests first), to the count the
        scaling policy asks for."""
        if self.scaler is None:
            return
        active = [pid for pid in self.workers if pid not in self.retiring]
        wanted = self.scaler.wanted(active, now)
        if wanted is None or wanted == len(active):
            return
        sys.stderr.write(f"modelyard: {len(active)} worker(s), the load asks for {wanted}\n")
        for _ in range(wanted - len(active)):
            self.workers[self.replace()] = time.monotonic()
        for pid in sorted(active, key=lambda p: self.workers[p], reverse=True)[: max(0, len(active) - wanted)]:
            self.retiring.add(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def stop(self, signum: int, status: int = 0) -> None:
        self.stop_signal, self.status = signum, status
        self.signal_all(signal.SIGTERM)  # SIGINT twice would make uvicorn skip draining

    def signal_all(self, signum: int) -> None:
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def kill_hung(self) -> None:
        """A worker whose heartbeat is older than the timeout gets SIGKILL; the next reap replaces it. One that has
        not written yet is still starting (its models load before its first beat)."""
        folder = telemetry_dir(self.spec_file)
        for pid in self.workers:
            try:
                silent_s = time.time() - (folder / f"{pid}.json").stat().st_mtime
            except OSError:
                continue
            if silent_s > self.timeout_s:
                sys.stderr.write(f"modelyard: worker {pid} has not answered for {silent_s:.0f} s; replacing it\n")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def reap(self) -> None:
        for pid in list(self.workers):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                continue
            started = self.workers.pop(pid)
            (telemetry_dir(self.spec_file) / f"{pid}.json").unlink(missing_ok=True)  # its numbers went with it
            if self.stop_signal is not None or pid in self.retiring:
                self.retiring.discard(pid)
                continue
            code = os.waitstatus_to_exitcode(status)
            if code == STARTUP_FAILED:
                sys.stderr.write("modelyard: a worker could not start (see above); stopping\n")
                self.stop(signal.SIGTERM, STARTUP_FAILED)
                continue
            sys.stderr.write(f"modelyard: worker {pid} exited ({describe(code)}); starting another\n")
            if time.monotonic() - started < QUICK_DEATH_S:
                time.sleep(1.0)  # a worker that keeps dying must not take the CPU with it; signals stay pending
            self.workers[self.replace()] = time.monotonic()

    def replace(self) -> int:
        argv = module_argv(PREFORK, self.spec_file, self.host, self.port, self.drain_s)
        # Stop signals blocked until its handler is in place (prefork.run_worker), the rest of ours not.
        return os.posix_spawn(sys.executable, argv, dict(os.environ), setsigmask=STOPPING)


def describe(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"


def main(argv: list[str]) -> int:
    spec_file, host, port, drain_s, pids = argv
    now = time.monotonic()
    fields = spec_fields(spec_file)
    timeout_s = float(fields.get("worker_timeout_s", 30.0))
    workers = {int(p): now for p in pids.split(",")}
    supervisor = Supervisor(spec_file, host, int(port), int(drain_s), workers, timeout_s)
    if fields.get("scaling"):
        from modelyard.scaling.policy import Autoscaler
        from modelyard.server.process.scaler import policy_of

        supervisor.scaler = WorkerScaler(telemetry_dir(spec_file), Autoscaler(policy_of(fields["scaling"])))
    follower = start_follower(spec_file)
    try:
        return supervisor.run()
    finally:
        stop_follower(follower)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
