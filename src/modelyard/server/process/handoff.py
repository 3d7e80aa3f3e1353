"""`modelyard serve` in two processes at once: the CLI resolves what to serve while the server imports its stack.

The CLI's work (Typer, settings, the registry, packaging model files) and the server's imports (uvicorn, ONNX
Runtime, gRPC) each take about half a second. Run one after the other, as an `execve` from the CLI into the
server would, they made a server ready 1.1-1.3 s after the command; the two together, on two cores, fit in about
one of them (docs/measurements.md, "Ready").

So the console script forks early: once it has imported what both sides need (numpy, pydantic, the manifest and
spec models: about half of each side's imports), which on two cores is cheaper done once before the fork than
twice side by side. The child runs the CLI as usual and, where it
would have started the server, writes the spec's path into a pipe and exits. The parent, meanwhile, imports the
server's modules; it reads the pipe and becomes the server. The process the user started (the PID a process
manager or a test holds) is the server, as with `execve`. Should the CLI end without handing over a spec (an
error, `--help`, `demo --no-serve`), the parent exits with the CLI's status and serves nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import threading
from typing import NoReturn

from modelyard.server.process import prefork
from modelyard.server.process.common import SPEC
from modelyard.server.process.http_worker import preload as preload_stack
from modelyard.server.process.launch import launcher_argv, serve
from modelyard.server.process.memory import limit_arenas
from modelyard.server.process.supervisor import STOPPING

SHARED = (SPEC, "modelyard.runtimes")  # imported by the CLI and by the server alike

_handoff_fd: int | None = None  # in the CLI child: where the spec goes


def supported() -> bool:
    return hasattr(os, "fork")


def split(preload_grpc: bool = True) -> None:
    """Returns in the child, which goes on as the CLI; the parent waits for the spec and never returns.
    `preload_grpc`: False when the command line turns gRPC off (its 15 MiB would be imported for nothing)."""
    for name in SHARED:
        with contextlib.suppress(Exception):  # a broken import is left for the side that needs it to report
            importlib.import_module(name)
    read, write = os.pipe()
    # A stop signal between the fork and the parent's handlers would kill the parent and orphan the CLI: both
    # processes hold them blocked until each has its own dispositions.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(read)
        global _handoff_fd
        _handoff_fd = write
        return
    os.close(write)
    await_spec(read, child, preload=preload_grpc, unblock=blocked)


def hand_over(spec_file: str, host: str, port: int, workers: int, drain_s: int) -> bool:
    """In the CLI child: give the spec to the waiting server process and exit at once, so that the server can reap
    this process before it goes on (with workers it `execve`s into the launcher, which would never reap it: the CLI
    stayed a zombie for the server's life). False when there is no server process waiting (no fork on this
    platform, or the CLI was called in-process), and the caller starts the server itself."""
    global _handoff_fd
    if _handoff_fd is None:
        return False
    message = json.dumps([spec_file, host, port, workers, drain_s]).encode()
    fd, _handoff_fd = _handoff_fd, None
    with contextlib.suppress(BrokenPipeError):  # the server process was stopped meanwhile: nothing to start
        os.write(fd, message)
    os.close(fd)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # nothing is left for the CLI to do; its interpreter's shutdown would only delay the reaping


def await_spec(
    read: int, child: int, preload: bool = True, unblock: set[int | signal.Signals] | None = None
) -> NoReturn:
    stopping = {n: signal.getsignal(n) for n in STOPPING}
    for signum, inherited in stopping.items():  # stopped before the handover: stop the CLI too
        if inherited is not signal.SIG_IGN:  # a shell's background job ignores SIGINT, and so do we
            signal.signal(signum, lambda n, _: _stop(child, n))
    if unblock is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, unblock)
    limit_arenas()  # before the preloading thread gets an arena of its own
    loader = threading.Thread(target=preload_stack, args=(preload,), daemon=True)
    loader.start()
    message = _read_all(read)
    if not message:
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)
    os.waitpid(child, 0)  # the CLI exits as soon as it has handed over
    loader.join()
    for signum, inherited in stopping.items():
        signal.signal(signum, inherited)
    spec_file, host, port, workers, drain_s = json.loads(message)
    if workers > 1 and not prefork.supported():
        # uvicorn's supervisor spawns the workers; the runtimes this process preloaded would weigh on it for
        # nothing (+25-29 MiB RSS measured), so it becomes the lean launcher, under the same PID.
        os.execv(sys.executable, launcher_argv(spec_file, host, port, workers, drain_s))
    serve(spec_file, host, port, workers, drain_s)  # several workers: forked from here (prefork.py)
    sys.exit(0)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _stop(child: int, signum: int) -> NoReturn:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGTERM)  # whatever stopped us: the CLI may ignore SIGINT, not this
    with contextlib.suppress(ChildProcessError):
        os.waitpid(child, 0)
    os._exit(128 + signum)
