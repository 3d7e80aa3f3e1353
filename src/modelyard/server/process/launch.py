"""How a serving process serves a spec: `python -m modelyard.server.process.launch SPEC HOST PORT WORKERS DRAIN_S`.

`modelyard serve` resolves models and writes the spec; the process it started then serves it (handoff.py), or,
where it could not fork, `execve`s into this module. Its workers, one or several, are forked once the server's
stack is imported, under the lean supervisor (prefork.py, supervisor.py), which replaces a worker that dies: a
single unsupervised worker that crashed took the server down. Where fork or sigtimedwait is missing, one worker
runs uvicorn in this process and several are spawned by uvicorn's own supervisor. Neither the supervisor nor the
workers carry the CLI's or the registry's imports.
"""

from __future__ import annotations

import sys

from modelyard.server.process import listeners, prefork
from modelyard.server.process.common import module_argv, spec_fields, start_follower, stop_follower
from modelyard.server.process.http_worker import run_http


def launcher_argv(spec_file: str, host: str, port: int, workers: int, drain_s: int) -> list[str]:
    return module_argv(__name__, spec_file, host, port, workers, drain_s)  # called from handoff, never as __main__


def serve(spec_file: str, host: str, port: int, workers: int, drain_s: int = 30) -> None:
    listeners.owned(host, int(spec_fields(spec_file).get("grpc_port") or 0))  # every worker's gRPC reuses it
    if prefork.supported():  # one worker too: a worker that dies is replaced, whatever the count
        prefork.serve(spec_file, host, port, workers, drain_s)  # never returns: this process becomes the supervisor
    follower = start_follower(spec_file)
    try:
        run_http(spec_file, host, port, workers, drain_s)
    finally:
        stop_follower(follower)


if __name__ == "__main__":
    spec, host, port, workers, drain = sys.argv[1:6]
    serve(spec, host, int(port), int(workers), int(drain))
