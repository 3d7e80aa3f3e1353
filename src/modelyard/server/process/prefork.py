"""Several HTTP workers, forked from the process that has already imported the server's stack.

uvicorn's own workers are started with `multiprocessing`'s spawn: each is a fresh interpreter that imports ONNX
Runtime, numpy, uvicorn and gRPC again (half a second each, two at once on two cores), behind a supervisor that
imports uvicorn and a resource tracker process of its own (25 and 12 MiB RSS). Here the process that holds those
imports binds a socket per worker on the port (listeners.py) and forks the workers, which share its pages until
they write them; then it `execve`s into the lean supervisor (supervisor.py), which keeps the PID and the children,
and nothing else.

A worker that dies is replaced by a fresh interpreter (`python -m modelyard.server.process.prefork`): the supervisor has
none of the imports to fork from, which costs the replacement half a second, once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from modelyard.server.process import listeners
from modelyard.server.process.common import (
    SPEC_ENV,
    max_connections,
    raise_fd_limit,
    signal_on_parent_death,
    spec_fields,
)
from modelyard.server.process.http_worker import preload, uvicorn_options
from modelyard.server.process.supervisor import STARTUP_FAILED, STOPPING, WAITED, supervisor_argv


def supported() -> bool:
    """fork, the signal waiting the supervisor is built on (not macOS, which lacks sigtimedwait), and listeners
    the kernel balances (Linux)."""
    return hasattr(os, "fork") and hasattr(signal, "sigtimedwait") and listeners.supported()


def serve(spec_file: str, host: str, port: int, workers: int, drain_s: int) -> NoReturn:
    """Bind, fork the workers, become the supervisor (same PID). Call it before any thread or event loop exists."""
    # The workers share these pages (a no-op where modelyard serve's handoff preloaded them); gRPC only if served.
    fields = spec_fields(spec_file)
    preload(grpc=bool(fields.get("grpc_port")))
    raise_fd_limit(max_connections(fields))  # each forked worker inherits it for its own connections
    sockets = listeners.per_worker(host, port, workers)  # not inheritable: the supervisor's execve closes them
    port = sockets[0].getsockname()[1]
    os.environ[SPEC_ENV] = spec_file
    # Blocked from here on: a stop signal or a worker's exit before the supervisor waits for them stays pending
    # (the mask and pending signals survive execve) instead of killing this process or going unseen.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
    pids = [fork_worker(sockets, i, drain_s, mask) for i in range(workers)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, supervisor_argv(spec_file, host, port, drain_s, pids))


def fork_worker(sockets: list[socket.socket], index: int, drain_s: int, mask: set[int | signal.Signals]) -> int:
    pid = os.fork()
    if pid == 0:
        for i, other in enumerate(sockets):  # held here, another worker's socket would outlive that worker
            if i != index:
                other.close()
        run_worker(lambda: sockets[index], drain_s, mask)
    return pid


def run_worker(
    listen: Callable[[], socket.socket], drain_s: int, mask: set[int | signal.Signals] | None = None
) -> NoReturn:
    """A worker's whole life: serve on its socket until SIGTERM (or SIGINT) has drained it. `listen` is called
    once the app is imported: a replacement binds its socket only then, so that connections the kernel gives it
    wait no longer than its models take to load.

    It starts with the stop signals blocked, so that one sent while it starts waits for its handler; `mask` is the
    signal mask to restore once the handler is in place."""
    code = 0
    try:
        _die_with_parent()
        import uvicorn

        from modelyard.server.process.uvicorn_server import LeanServer

        config = uvicorn.Config(**uvicorn_options(drain_s, spec_fields(os.environ[SPEC_ENV])))
        config.load()
        server = LeanServer(config)
        for signum in STOPPING:
            # Before uvicorn installs its own handlers, and after it restores this one and raises the signal again:
            # a stop tells uvicorn to exit (right after its startup, if it comes early), never kills the worker
            # mid-drain or ends a drained one with status -15 or a KeyboardInterrupt.
            signal.signal(signum, lambda n, _: server.handle_exit(n, None))
        signal.pthread_sigmask(signal.SIG_SETMASK, mask or set())
        server.run(sockets=[listen()])
        code = 0 if server.started else STARTUP_FAILED
    except SystemExit as exc:  # uvicorn's way to say its app failed to start (status 3)
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a worker must never return into the code of the process it was forked from
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _die_with_parent() -> None:
    """SIGTERM this worker when the supervisor dies, so no worker outlives it."""
    signal_on_parent_death()
    if os.getppid() == 1:  # the supervisor was already gone
        os._exit(1)


if __name__ == "__main__":  # a replacement, started by the supervisor (signals unblocked): SPEC HOST PORT DRAIN_S
    os.environ[SPEC_ENV] = sys.argv[1]
    run_worker(lambda: listeners.bind(sys.argv[2], int(sys.argv[3]), reuse_port=True), int(sys.argv[4]))
