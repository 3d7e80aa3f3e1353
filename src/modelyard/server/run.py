"""The HTTP server process: `python -m modelyard.server.run SPEC HOST PORT WORKERS DRAIN_S`.

`modelyard serve` resolves models, writes the spec, then replaces itself with this lean launcher, so neither the
supervisor nor the workers carry the CLI's or the registry's imports.
"""

from __future__ import annotations

import os
import sys

SPEC_ENV = "MODELYARD_SERVE_SPEC"  # the one variable a worker reads: the spec file the launcher was given


def serve(spec_file: str, host: str, port: int, workers: int, drain_s: int = 30) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    os.environ[SPEC_ENV] = spec_file  # inherited by the worker processes granian starts
    Granian(
        target="modelyard.server.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_access=False,
        backpressure=2048,
        workers_kill_timeout=drain_s or None,  # SIGTERM: requests in flight get this long to finish
    ).serve()


if __name__ == "__main__":
    spec, host, port, workers, drain = sys.argv[1:6]
    serve(spec, host, int(port), int(workers), int(drain))
