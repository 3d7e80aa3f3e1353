"""How a worker process runs uvicorn, whoever started it (launch.py with one worker, prefork.py with several),
and what a serving process imports before its workers start.

The HTTP stack is uvicorn with its C parser (httptools) on uvloop, each response sent in one write
(transports/uvicorn_protocol.py); it served more requests per second than granian on the same app and load
(docs/measurements.md, "HTTP stack").
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import ssl
from collections.abc import Mapping
from typing import Any

from modelyard.server.process.common import (
    BACKLOG,
    GRPC_SERVICE,
    SPEC_ENV,
    UVICORN_PROTOCOL,
    WORKER_APP,
    max_connections,
    raise_fd_limit,
    spec_fields,
)
from modelyard.server.process.memory import freeze_imported


def preloaded(grpc: bool = True) -> list[str]:
    """What every server worker imports, by name (imported here, they would load with this module)."""
    return [WORKER_APP, "onnxruntime", "uvicorn.loops.uvloop", UVICORN_PROTOCOL, *([GRPC_SERVICE] if grpc else [])]


def preload(grpc: bool = True) -> None:
    """Import the worker's stack now (before a fork, or beside the CLI). Failures are left for the real import."""
    for name in preloaded(grpc):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    freeze_imported()


def run_http(spec_file: str, host: str, port: int, workers: int, drain_s: int) -> None:
    import uvicorn

    os.environ[SPEC_ENV] = spec_file  # inherited by the worker processes uvicorn starts
    fields = spec_fields(spec_file)
    raise_fd_limit(max_connections(fields))
    # uvicorn drains on SIGTERM, restores the previous handler and raises the signal again "for the expected
    # behaviour": that would end a clean shutdown with status -15. The previous handler is this no-op, so a
    # drained server exits 0, as process managers and Kubernetes expect.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(host=host, port=port, workers=workers, **uvicorn_options(drain_s, fields))


def uvicorn_options(drain_s: int, spec: Mapping[str, Any]) -> dict[str, Any]:
    """How every worker runs uvicorn, whoever started it; `spec`: the spec's fields (the limits, TLS)."""
    return {
        **tls_options(spec),
        "timeout_keep_alive": spec.get("keep_alive_s", 5.0),  # an idle kept-alive connection closes after this
        "limit_concurrency": max_connections(spec),  # past it a request is answered 503, not starved
        "app": f"{WORKER_APP}:create_app",
        "factory": True,
        "loop": "uvloop",
        "http": f"{UVICORN_PROTOCOL}:OneWriteProtocol",  # httptools, one write per response
        "lifespan": "on",
        "access_log": bool(spec.get("access_log", False)),  # off unless asked: the log is for what a person reads
        "backlog": BACKLOG,
        "timeout_graceful_shutdown": drain_s,  # SIGTERM: requests in flight get this long to finish
        "log_level": "info",
    }


def tls_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    """HTTPS where the spec names a certificate; with a CA too, a client without a certificate it signed fails the
    handshake. uvicorn's head limits apply to what arrives once the handshake is done; the handshake itself has
    asyncio's 60 s."""
    if not spec.get("tls_cert"):
        return {}
    options: dict[str, Any] = {"ssl_certfile": spec["tls_cert"], "ssl_keyfile": spec["tls_key"]}
    if spec.get("tls_ca"):
        options |= {"ssl_ca_certs": spec["tls_ca"], "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options
