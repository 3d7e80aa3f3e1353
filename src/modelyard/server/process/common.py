"""What every serving process shares, in the standard library only (the supervisor imports it and stays lean):
the spec's variable, where workers leave their telemetry, the spec's fields as plain JSON, the names of the
modules a serving process runs or imports by name, and the registry follower's process.

Which process serves, and how, is launch.py's choice; how a worker runs uvicorn is http_worker.py's.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BACKLOG = 2048  # pending connections the listening socket holds
SPEC_ENV = "MODELYARD_SERVE_SPEC"  # the one variable a worker reads: the spec file it serves

# Modules named as strings, because importing them here would load the stack this module keeps out: derived
# from this package's own name, and each checked to exist by tests/server/process/test_common.py.
SERVER = __name__.rsplit(".", 2)[0]  # modelyard.server
WORKER_APP = f"{SERVER}.worker_app"  # create_app: uvicorn's factory in each worker
UVICORN_PROTOCOL = f"{SERVER}.transports.uvicorn_protocol"  # OneWriteProtocol
GRPC_SERVICE = f"{SERVER}.transports.grpc_service"
FOLLOWER = f"{SERVER}.repository.follower"  # the registry's process: `python -m` FOLLOWER
SPEC = f"{SERVER}.repository.spec"


def module_argv(module: str, *args: object) -> list[str]:
    """`python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *map(str, args)]


def max_connections(spec: Mapping[str, Any]) -> int:
    """A worker's connection limit from the spec's fields (ServeSpec.max_connections; 1000 in an older spec)."""
    return int(spec.get("max_connections", 1000))


def raise_fd_limit(connections: int) -> None:
    """Room for `connections` sockets and the files a server opens beside them: a soft limit of 1,024 descriptors
        let idle sockets starve a server (every new request failed, silently). Raised up to the hard limit. Per process:
    forked workers inherit it, each holding its own connections."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def signal_on_parent_death(signum: int = signal.SIGTERM) -> None:
    """Linux: have the kernel send `signum` to this process when its parent dies, however it dies, so that
    nothing of a server outlives its supervisor. Elsewhere a no-op (callers also watch their parent's PID)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signum)


PR_SET_PDEATHSIG = 1


def telemetry_dir(spec_file: str | Path) -> Path:
    """Where a server's workers leave their statistics for each other, and their heartbeat for the supervisor."""
    return Path(spec_file).with_suffix(".telemetry")


def spec_fields(spec_file: str | Path) -> dict[str, Any]:
    """The spec's fields as plain JSON, for the processes that must not import pydantic to read a few of them."""
    fields: dict[str, Any] = json.loads(Path(spec_file).read_bytes())
    return fields


def start_follower(spec_file: str) -> subprocess.Popen[bytes] | None:
    """The registry's side of the server (follow aliases, announce for discovery) runs in its own process, so
    neither this launcher nor the workers import the registry's database stack."""
    spec = spec_fields(spec_file)
    if not spec.get("registry") or not (spec.get("follow") or spec.get("announce")):
        return None
    return subprocess.Popen(module_argv(FOLLOWER, spec_file, os.getpid()))


def stop_follower(follower: subprocess.Popen[bytes] | None) -> None:
    if follower is None:
        return
    follower.terminate()
    try:
        follower.wait(timeout=10)
    except subprocess.TimeoutExpired:
        follower.kill()
