"""What every serving process shares: how a worker runs uvicorn, what it preloads, where it leaves its telemetry,
and the registry's controller process. Which process serves, and how, is launch.py's choice.

The HTTP stack is uvicorn with its C parser (httptools) on uvloop, each response sent in one write (http.py).
Measured against granian on the same app, machine and load (docs/architecture.md): 1.26-1.46x the requests per
second on W1 at concurrency 1-64 and 1.24x on W2 JSON, with lower p50 and p99.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

BACKLOG = 2048  # pending connections the listening socket holds
SPEC_ENV = "MODELYARD_SERVE_SPEC"  # the one variable a worker reads: the spec file it serves


def telemetry_dir(spec_file: str | Path) -> Path:
    """Where a server's workers leave their statistics for each other, and their heartbeat for the supervisor."""
    return Path(spec_file).with_suffix(".telemetry")


def preload(grpc: bool = True) -> None:
    """What every server worker imports. Failures are left for the real import to report."""
    modules = ["modelyard.server.app", "onnxruntime", "uvicorn.loops.uvloop", "modelyard.server.http"]
    if grpc:
        modules.append("modelyard.server.grpc.service")
    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    from modelyard.server.memory import freeze_imported  # here: the supervisor imports this module, lean

    freeze_imported()


def spec_fields(spec_file: str | Path) -> dict[str, Any]:
    """The spec's fields as plain JSON, for the processes that must not import pydantic to read a few of them."""
    fields: dict[str, Any] = json.loads(Path(spec_file).read_bytes())
    return fields


def start_controller(spec_file: str) -> subprocess.Popen[bytes] | None:
    """The registry's side of the server (follow aliases, announce for discovery) runs in its own process, so
    neither this launcher nor the workers import the registry's database stack."""
    spec = spec_fields(spec_file)
    if not spec.get("registry") or not (spec.get("follow") or spec.get("announce")):
        return None
    argv = [sys.executable, "-m", "modelyard.server.controller", spec_file, str(os.getpid())]
    return subprocess.Popen(argv)


def stop_controller(controller: subprocess.Popen[bytes] | None) -> None:
    if controller is None:
        return
    controller.terminate()
    try:
        controller.wait(timeout=10)
    except subprocess.TimeoutExpired:
        controller.kill()


def run_http(spec_file: str, host: str, port: int, workers: int, drain_s: int) -> None:
    import uvicorn

    os.environ[SPEC_ENV] = spec_file  # inherited by the worker processes uvicorn starts
    # uvicorn drains on SIGTERM, restores the previous handler and raises the signal again "for the expected
    # behaviour": that would end a clean shutdown with status -15. The previous handler is this no-op, so a
    # drained server exits 0, as process managers and Kubernetes expect.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(host=host, port=port, workers=workers, **uvicorn_options(drain_s))


def uvicorn_options(drain_s: int) -> dict[str, Any]:
    """How every worker runs uvicorn, whoever started it."""
    return {
        "app": "modelyard.server.app:create_app",
        "factory": True,
        "loop": "uvloop",
        "http": "modelyard.server.http:OneWriteProtocol",  # httptools, one write per response
        "lifespan": "on",
        "access_log": False,
        "backlog": BACKLOG,
        "timeout_graceful_shutdown": drain_s,  # SIGTERM: requests in flight get this long to finish
        "log_level": "info",
    }
