"""Several HTTP workers, forked from the process that has already imported the server's stack.

uvicorn's own workers are started with `multiprocessing`'s spawn: each is a fresh interpreter that imports ONNX
Runtime, numpy, uvicorn and gRPC again (half a second each, two at once on two cores), behind a supervisor that
imports uvicorn and a resource tracker process of its own (25 and 12 MiB RSS). Here the process that holds those
imports binds the socket and forks the workers, which share its pages until they write them; then it `execve`s
into the lean supervisor (supervisor.py), which keeps the PID, the children and the socket, and nothing else.

A worker that dies is replaced by a fresh interpreter (`python -m modelyard.server.prefork`): the supervisor has
none of the imports to fork from, which costs the replacement half a second, once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import traceback
from typing import NoReturn

from modelyard.server.run import BACKLOG, SPEC_ENV, preload, spec_fields, uvicorn_options
from modelyard.server.supervisor import STARTUP_FAILED, STOPPING, WAITED, supervisor_argv

PR_SET_PDEATHSIG = 1


def supported() -> bool:
    """fork, and the signal waiting the supervisor is built on (Linux; not macOS, which lacks sigtimedwait)."""
    return hasattr(os, "fork") and hasattr(signal, "sigtimedwait")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        sys.stderr.write(f"modelyard: cannot listen on {host}:{port}: {exc.strerror or exc}\n")
        raise SystemExit(1) from None
    sock.listen(BACKLOG)
    sock.set_inheritable(True)  # the supervisor keeps it across its execve, for the workers it replaces
    return sock


def serve(spec_file: str, host: str, port: int, workers: int, drain_s: int) -> NoReturn:
    """Bind, fork the workers, become the supervisor (same PID). Call it before any thread or event loop exists."""
    # The workers share these pages (a no-op where modelyard serve's handoff preloaded them); gRPC only if served.
    preload(grpc=bool(spec_fields(spec_file).get("grpc_port")))
    sock = bind(host, port)
    os.environ[SPEC_ENV] = spec_file
    # Blocked from here on: a stop signal or a worker's exit before the supervisor waits for them stays pending
    # (the mask and pending signals survive execve) instead of killing this process or going unseen.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
    pids = [fork_worker(sock.fileno(), drain_s, mask) for _ in range(workers)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, supervisor_argv(spec_file, sock.fileno(), drain_s, pids))


def fork_worker(fd: int, drain_s: int, mask: set[int | signal.Signals]) -> int:
    pid = os.fork()
    if pid == 0:
        run_worker(fd, drain_s, mask)
    return pid


def run_worker(fd: int, drain_s: int, mask: set[int | signal.Signals] | None = None) -> NoReturn:
    """A worker's whole life: serve on the inherited socket until SIGTERM (or SIGINT) has drained it.

    It starts with the stop signals blocked, so that one sent while it starts waits for its handler; `mask` is the
    signal mask to restore once the handler is in place."""
    code = 0
    try:
        _die_with_parent()
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(**uvicorn_options(drain_s)))
        for signum in STOPPING:
            # Before uvicorn installs its own handlers, and after it restores this one and raises the signal again:
            # a stop tells uvicorn to exit (right after its startup, if it comes early), never kills the worker
            # mid-drain or ends a drained one with status -15 or a KeyboardInterrupt.
            signal.signal(signum, lambda n, _: server.handle_exit(n, None))
        signal.pthread_sigmask(signal.SIG_SETMASK, mask or set())
        server.run(sockets=[socket.socket(fileno=fd)])
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
    """Linux: SIGTERM this worker when the supervisor dies, however it dies, so no worker outlives it."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the supervisor was already gone
        os._exit(1)


if __name__ == "__main__":  # a replacement worker, started by the supervisor (signals unblocked): SPEC FD DRAIN_S
    os.environ[SPEC_ENV] = sys.argv[1]
    run_worker(int(sys.argv[2]), int(sys.argv[3]))
